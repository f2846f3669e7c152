package offsets

import (
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

func TestTrackerInOrderCommit(t *testing.T) {
	tests := []struct {
		name    string
		confirm []int // indexes of tracked records (p0 positions "0".."4") in confirmation order
		want    []string
	}{
		{"in order", []int{0, 1, 2, 3, 4}, []string{"0", "1", "2", "3", "4"}},
		{"reverse", []int{4, 3, 2, 1, 0}, []string{"", "", "", "", "4"}},
		{"gap held", []int{1, 2, 0, 4, 3}, []string{"", "", "2", "2", "4"}},
		{"duplicate confirm", []int{0, 0, 2, 1}, []string{"0", "0", "0", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(nil)
			tks := make([]Ticket, 5)
			for i := range tks {
				tks[i] = tr.Track("p0", strconv.Itoa(i))
			}
			for step, i := range tt.confirm {
				tr.Confirm(tks[i])
				got, _ := tr.Snapshot()
				if got["p0"] != tt.want[step] {
					t.Fatalf("step %d (confirm %d): committed %q, want %q", step, i, got["p0"], tt.want[step])
				}
			}
		})
	}
}

func TestTrackerPartitionsIndependent(t *testing.T) {
	tr := NewTracker(map[string]string{"old": "7"})
	a := tr.Track("a", "1")
	b := tr.Track("b", "1")
	tr.Track("a", "2") // never confirmed
	if !tr.Confirm(b) {
		t.Fatal("confirming b must advance b")
	}
	tr.Confirm(a)
	got, changed := tr.Snapshot()
	want := map[string]string{"old": "7", "a": "1", "b": "1"}
	if !changed || !maps.Equal(got, want) {
		t.Fatalf("Snapshot = %v, %v; want %v, true", got, changed, want)
	}
	if _, changed := tr.Snapshot(); changed {
		t.Fatal("second Snapshot without progress reports a change")
	}
	if tr.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1", tr.Pending())
	}
	if tr.Confirm(Ticket{}) {
		t.Fatal("zero ticket must be a no-op")
	}
}

// TestTrackerRandom confirms records in random order from several goroutines
// and checks that the committed position is always a prefix position.
func TestTrackerRandom(t *testing.T) {
	tr := NewTracker(nil)
	const n = 2000
	tks := make([]Ticket, n)
	for i := range tks {
		tks[i] = tr.Track("p", strconv.Itoa(i))
	}
	perm := rand.Perm(n)
	var mu sync.Mutex
	confirmed := make([]bool, n)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for j := w; j < n; j += 4 {
				i := perm[j]
				mu.Lock()
				confirmed[i] = true
				mu.Unlock()
				tr.Confirm(tks[i])
				snap, _ := tr.Snapshot()
				if s, ok := snap["p"]; ok {
					c, _ := strconv.Atoi(s)
					mu.Lock()
					for k := 0; k <= c; k++ {
						if !confirmed[k] {
							mu.Unlock()
							t.Errorf("committed %d while %d unconfirmed", c, k)
							return
						}
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	snap, _ := tr.Snapshot()
	if snap["p"] != strconv.Itoa(n-1) {
		t.Fatalf("final committed %q, want %d", snap["p"], n-1)
	}
	if tr.Pending() != 0 {
		t.Fatalf("Pending = %d", tr.Pending())
	}
}

func TestTrackerSteadyStateAllocs(t *testing.T) {
	tr := NewTracker(nil)
	allocs := testing.AllocsPerRun(1000, func() {
		tk := tr.Track("p", "x")
		tr.Confirm(tk)
	})
	if allocs > 0 {
		t.Fatalf("Track+Confirm allocates %v times", allocs)
	}
}

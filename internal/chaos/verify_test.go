package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func line(seq int) string {
	return fmt.Sprintf(`{"topic":"/default/chaos","offset":%d,"publish_time":"2026-01-01T00:00:00Z","payload_encoding":"json","payload":{"seq":%d,"data":"xx"}}`+"\n", seq, seq)
}

func TestTallyCountsLostAndDuplicated(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		lost     int
		dup      int64
		torn     int64
		foreign  int64
		missing  []int
		distinct int
	}{
		{name: "complete", input: line(0) + line(1) + line(2), lost: 0, distinct: 3},
		{name: "lost", input: line(0) + line(2), lost: 1, missing: []int{1}, distinct: 2},
		{name: "duplicated", input: line(0) + line(1) + line(1) + line(2) + line(1), dup: 2, distinct: 3},
		{name: "torn line then the restarted sink's line", input: line(0) + line(1)[:40] + line(1) + line(2), torn: 1, distinct: 3},
		{name: "out of range and foreign", input: line(0) + line(1) + line(2) + line(7) + `{"topic":"x","payload":"text"}` + "\n", foreign: 2, distinct: 3},
		{name: "incomplete last line waits", input: line(0) + line(1) + line(2)[:30], lost: 1, missing: []int{2}, distinct: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ta := NewTally(3)
			ta.Add([]byte(tc.input))
			if ta.Lost() != tc.lost || ta.Duplicated() != tc.dup || ta.Torn != tc.torn || ta.Foreign != tc.foreign || ta.Distinct() != tc.distinct {
				t.Errorf("lost=%d dup=%d torn=%d foreign=%d distinct=%d; want %d %d %d %d %d",
					ta.Lost(), ta.Duplicated(), ta.Torn, ta.Foreign, ta.Distinct(), tc.lost, tc.dup, tc.torn, tc.foreign, tc.distinct)
			}
			if got := ta.Missing(10); !slices.Equal(got, tc.missing) {
				t.Errorf("missing %v, want %v", got, tc.missing)
			}
		})
	}
}

// TestTallyReadsAppendsIncrementally reads a file while it grows, with a
// line split across two reads.
func TestTallyReadsAppendsIncrementally(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	ta := NewTally(4)
	if err := ta.ReadFile(path); err != nil { // not created yet
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	whole := line(0) + line(1) + line(2) + line(3) + line(3)
	cut := len(line(0)) + 25
	for _, part := range []string{whole[:cut], whole[cut:]} {
		if _, err := f.WriteString(part); err != nil {
			t.Fatal(err)
		}
		if err := ta.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	if ta.Lost() != 0 || ta.Duplicated() != 1 || ta.Lines != 5 {
		t.Errorf("lost=%d dup=%d lines=%d; want 0 1 5", ta.Lost(), ta.Duplicated(), ta.Lines)
	}
}

package deltalake

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestOffsetSet checks the interval set against a map, in random order.
func TestOffsetSet(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		var s offsetSet
		want := map[uint64]bool{}
		for range 200 {
			off := uint64(r.IntN(120))
			s.add(off)
			want[off] = true
		}
		for off := range uint64(130) {
			if s.has(off) != want[off] {
				t.Fatalf("seed %d: has(%d) = %v, want %v (intervals %v)", seed, off, s.has(off), want[off], s.iv)
			}
		}
		for i := 1; i < len(s.iv); i++ {
			if s.iv[i-1][1]+1 >= s.iv[i][0] {
				t.Fatalf("seed %d: intervals %v overlap or touch", seed, s.iv)
			}
		}
	}
}

func TestExpireTombstones(t *testing.T) {
	s := newSnapshot()
	now := time.Now()
	old, recent := now.Add(-8*24*time.Hour).UnixMilli(), now.Add(-time.Hour).UnixMilli()
	s.removes["old"] = &removeAction{Path: "old", DeletionTimestamp: &old}
	s.removes["recent"] = &removeAction{Path: "recent", DeletionTimestamp: &recent}
	s.removes["untimed"] = &removeAction{Path: "untimed"}
	s.expireTombstones(now)
	if len(s.removes) != 2 || s.removes["old"] != nil {
		t.Fatalf("tombstones after expiry: %v", s.removes)
	}
}

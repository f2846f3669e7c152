package deltalake

import "slices"

// A record is committed, and skipped when it comes again, when its offset
// is at or below its partition's floor — the txn version the table held
// when the sink opened it, raised when another writer commits a higher
// one — or when this process committed it. The txn version a commit
// writes is the highest offset committed for the partition, never lower
// than the version already in the table.
//
// Tracking this process's own commits keeps parallel lanes of one
// partition (processing.parallelism > 1, exactly_once off in the file
// configuration) from hiding each other's records while the process
// runs. Across a crash only the floor is known, which is why exactly-once
// needs each partition's records in offset order (parallelism 1).

// offsetSet is a set of offsets kept as sorted, disjoint, non-adjacent
// intervals: offsets committed in order take one interval.
type offsetSet struct{ iv [][2]uint64 }

func (s *offsetSet) has(off uint64) bool {
	i, _ := slices.BinarySearchFunc(s.iv, off, func(iv [2]uint64, o uint64) int {
		switch {
		case iv[1] < o:
			return -1
		case iv[0] > o:
			return 1
		}
		return 0
	})
	return i < len(s.iv) && s.iv[i][0] <= off && off <= s.iv[i][1]
}

func (s *offsetSet) add(off uint64) {
	i, _ := slices.BinarySearchFunc(s.iv, off, func(iv [2]uint64, o uint64) int {
		if iv[1] < o {
			return -1
		}
		return 1
	})
	// s.iv[i] is the first interval ending at or after off.
	switch {
	case i < len(s.iv) && s.iv[i][0] <= off:
		return
	case i > 0 && s.iv[i-1][1]+1 == off && i < len(s.iv) && s.iv[i][0] == off+1:
		s.iv[i-1][1] = s.iv[i][1]
		s.iv = slices.Delete(s.iv, i, i+1)
	case i > 0 && s.iv[i-1][1]+1 == off:
		s.iv[i-1][1] = off
	case i < len(s.iv) && s.iv[i][0] == off+1:
		s.iv[i][0] = off
	default:
		s.iv = slices.Insert(s.iv, i, [2]uint64{off, off})
	}
}

// txnState is a table's view of what each app id has committed. Guarded
// by the table's mutex.
type txnState struct {
	floor map[string]int64
	own   map[string]*offsetSet
}

func newTxnState(txns map[string]int64) txnState {
	floor := make(map[string]int64, len(txns))
	for id, v := range txns {
		floor[id] = v
	}
	return txnState{floor: floor, own: map[string]*offsetSet{}}
}

func (x *txnState) floorOf(id string) int64 {
	if v, ok := x.floor[id]; ok {
		return v
	}
	return -1
}

func (x *txnState) committed(id string, off uint64) bool {
	if int64(off) <= x.floorOf(id) {
		return true
	}
	s := x.own[id]
	return s != nil && s.has(off)
}

func (x *txnState) record(id string, offs []uint64) {
	s := x.own[id]
	if s == nil {
		s = &offsetSet{}
		x.own[id] = s
	}
	for _, o := range offs {
		s.add(o)
	}
}

// raise lifts the floors to txn versions other writers committed.
func (x *txnState) raise(txns map[string]int64) (moved []string) {
	for id, v := range txns {
		if v > x.floorOf(id) {
			x.floor[id] = v
			moved = append(moved, id)
		}
	}
	return moved
}

// Package offsets tracks source offsets and persists them.
//
// A Tracker turns out-of-order broker confirmations into in-order commits:
// per source partition, records are tracked in the order the source emitted
// them, and the committable position is that of the last record of the
// longest prefix whose records are all confirmed. A position is therefore
// never committed while an earlier record of its partition is unconfirmed.
//
// The file codec (Encode, Decode) and WriteFile implement the default
// file-based offset store with atomic replacement.
package offsets

import (
	"maps"
	"sync"
)

// Tracker tracks in-flight records per source partition. Safe for concurrent
// use: Track is called by the publishing goroutine, Confirm by the client's
// completion callbacks.
type Tracker struct {
	mu    sync.Mutex
	parts map[string]*partition
	dirty bool
}

type partition struct {
	name      string
	head      uint64  // sequence number of pending[off]
	pending   []entry // pending[off:] are unresolved, oldest first
	off       int
	committed string
	has       bool
}

type entry struct {
	pos  string
	done bool
}

// Ticket identifies one tracked record. The zero Ticket is valid and
// confirming it is a no-op (records without a source offset).
type Ticket struct {
	p   *partition
	seq uint64
}

// NewTracker returns a tracker starting from the committed offsets of the
// previous run (may be nil); they are part of every Snapshot until replaced.
func NewTracker(initial map[string]string) *Tracker {
	t := &Tracker{parts: make(map[string]*partition, len(initial))}
	for k, v := range initial {
		t.parts[k] = &partition{name: k, committed: v, has: true}
	}
	return t
}

// Track registers a record at position of partition, emitted after every
// record tracked before it on that partition.
func (t *Tracker) Track(partitionName, position string) Ticket {
	t.mu.Lock()
	p := t.parts[partitionName]
	if p == nil {
		p = &partition{name: partitionName}
		t.parts[partitionName] = p
	}
	if p.off > 0 && p.off*2 >= len(p.pending) {
		n := copy(p.pending, p.pending[p.off:])
		clear(p.pending[n:])
		p.pending = p.pending[:n]
		p.off = 0
	}
	seq := p.head + uint64(len(p.pending)-p.off)
	p.pending = append(p.pending, entry{pos: position})
	t.mu.Unlock()
	return Ticket{p: p, seq: seq}
}

// Confirm marks the ticket's record as confirmed by the broker and reports
// whether the committable position of its partition advanced. Confirming a
// ticket twice is a no-op.
func (t *Tracker) Confirm(tk Ticket) (advanced bool) {
	p := tk.p
	if p == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tk.seq < p.head {
		return false
	}
	i := p.off + int(tk.seq-p.head)
	if i >= len(p.pending) {
		return false
	}
	p.pending[i].done = true
	for p.off < len(p.pending) && p.pending[p.off].done {
		p.committed = p.pending[p.off].pos
		p.has = true
		p.pending[p.off] = entry{}
		p.off++
		p.head++
		advanced = true
	}
	if p.off == len(p.pending) {
		p.pending = p.pending[:0]
		p.off = 0
	}
	if advanced {
		t.dirty = true
	}
	return advanced
}

// Snapshot returns the committable position of every partition that has
// one, and whether any advanced since the previous Snapshot. The map is a
// new copy owned by the caller.
func (t *Tracker) Snapshot() (offsets map[string]string, changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]string, len(t.parts))
	for k, p := range t.parts {
		if p.has {
			out[k] = p.committed
		}
	}
	changed, t.dirty = t.dirty, false
	return out, changed
}

// Pending returns the number of tracked records not yet resolved, over all
// partitions.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.parts {
		n += len(p.pending) - p.off
	}
	return n
}

// Clone returns a copy of m (nil for an empty map); a small helper for
// handing offsets to connector code that may keep them.
func Clone(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

package devbroker

import (
	"os"
	"time"
)

// limits bounds what a topic log keeps; see the retention fields of [Config].
type limits struct {
	bytes   int64         // retention size per topic; < 0 = no size limit
	age     time.Duration // retention time; < 0 = no time limit
	segment int64         // segment file size at which a new one starts
	cache   int64         // read cache per topic (durable logs)
}

// Defaults of the retention settings.
const (
	defaultRetentionBytes = 4 << 20
	defaultRetentionTime  = 10 * time.Minute
	defaultSegmentBytes   = 1 << 20
	defaultReadCacheBytes = 1 << 20
)

func (c Config) limits() limits {
	return limits{bytes: c.RetentionBytes, age: c.RetentionTime, segment: c.SegmentBytes, cache: c.ReadCacheBytes}
}

// expired reports whether data of the given size in total, last written at when, is beyond the
// retention at now.
func (lim limits) expired(total int64, when, now time.Time) bool {
	return (lim.bytes >= 0 && total > lim.bytes) || (lim.age >= 0 && now.Sub(when) > lim.age)
}

// trimmable reports whether trim(acked, now) would delete anything.
func (l *topicLog) trimmable(acked uint64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dir == "" {
		return l.mem.len() > 0 && l.mem.start < acked && l.lim.expired(l.mem.bytes, time.Unix(0, l.mem.front().at), now)
	}
	return len(l.segs) > 1 && l.segs[0].end <= acked && l.lim.expired(l.retained, l.segs[0].lastWrite, now)
}

// trim deletes the oldest messages that every subscription acknowledged (those below acked) while
// they are beyond the retention: whole segment files (never the one being written) with a
// directory, single messages without one.
func (l *topicLog) trim(acked uint64, now time.Time) (deleted int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dir == "" {
		for l.mem.len() > 0 && l.mem.start < acked && l.lim.expired(l.mem.bytes, time.Unix(0, l.mem.front().at), now) {
			l.mem.pop()
			deleted++
		}
		l.base = l.mem.start
		return deleted
	}
	for len(l.segs) > 1 && l.segs[0].end <= acked && l.lim.expired(l.retained, l.segs[0].lastWrite, now) {
		s := l.segs[0]
		s.close(&l.reader)
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			break // kept; tried again at the next tick
		}
		l.segs[0] = nil
		l.segs = l.segs[1:]
		l.retained -= s.size
		deleted += int(s.end - s.start)
		if l.hint.seg == s {
			l.hint = readHint{}
		}
	}
	l.base = l.segs[0].start
	for l.mem.len() > 0 && l.mem.start < l.base {
		l.mem.pop()
	}
	return deleted
}

// retain applies the retention to every reliable topic. With a data directory the cursors are
// persisted (fsynced) before segment files go, so that no subscription restarts below the first
// retained offset after a crash.
func (st *state) retain(now time.Time) {
	type cut struct {
		t     *topic
		acked uint64
	}
	var cuts []cut
	st.mu.RLock()
	for _, t := range st.topics {
		if t.reliable {
			if acked := t.ackedByAll(); t.log.trimmable(acked, now) {
				cuts = append(cuts, cut{t, acked})
			}
		}
	}
	st.mu.RUnlock()
	if len(cuts) == 0 {
		return
	}
	if st.journal != nil {
		st.persistCursors(true)
	}
	for _, c := range cuts {
		if n := c.t.log.trim(c.acked, now); n > 0 {
			st.log.Debug("retention deleted messages", "topic", c.t.name, "messages", n)
		}
	}
}

// ackedByAll returns the offset below which every subscription of t acknowledged every message
// (the visible end when t has no subscription).
func (t *topic) ackedByAll() uint64 {
	acked := t.log.visible()
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, s := range t.subList {
		s.mu.Lock()
		acked = min(acked, s.cursorLocked())
		s.mu.Unlock()
	}
	return acked
}

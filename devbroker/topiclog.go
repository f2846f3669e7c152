package devbroker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// memOverhead approximates the heap a message kept in memory costs beyond its encoded size (the
// decoded structs, slice and map headers); the read cache and the in-memory retention count it.
const memOverhead = 256

// topicLog is the retained message log of a reliable topic. Offsets are 0-based and gap-free;
// messages [base, next) are retained. Messages below base were deleted by the retention once
// every subscription had acknowledged them (retention.go).
//
// With a directory every message is appended to segment files named after their first offset
// (00000000000000000000.seg, …), one frame per message holding the StreamMessage as stamped, and
// read back from them; memory holds only the most recent messages, up to the read cache size
// (and those not yet written). Without a directory every retained message is in memory.
//
// Messages [base, durable) are visible to subscriptions: durable advances only after the append
// was written (and fsynced, depending on the SyncPolicy).
type topicLog struct {
	dir    string // "" = memory only
	policy SyncPolicy
	lim    limits

	mu       sync.Mutex
	cond     sync.Cond // signalled when durable advances or a flush ends
	base     uint64    // first retained offset
	next     uint64    // offset of the next append
	durable  uint64
	mem      memQueue // messages in memory: the retained ones, or with a directory the latest
	buf      writeBuf // frames of messages [durable, next) not yet written
	spare    writeBuf // the other half of the double buffer
	flushing bool     // a group-commit leader is writing
	err      error    // sticky write failure; the log refuses appends after it
	segs     []*segment
	retained int64 // bytes of the segment files
	reader   frameReader
	hint     readHint

	w segWriter // the writer's own state; only the goroutine writing touches it
}

// writeBuf is a batch of frames to write: the bytes and where each frame starts in them.
type writeBuf struct {
	data []byte
	pos  []int32
}

func (b *writeBuf) reset() { b.data, b.pos = b.data[:0], b.pos[:0] }

// segWriter is the append side of the last segment.
type segWriter struct {
	f     *os.File
	start uint64
	size  int64
}

// written is what a write added to the segment files, applied to the log's metadata under mu.
type written struct {
	rolled *segment // a segment started by this write, nil if none
	marks  []int64  // index positions of the written messages, in order
	bytes  int64
	end    uint64
}

// openTopicLog loads the log in dir ("" = a new in-memory log). A torn or corrupt tail of the last
// segment, left by a crash, is truncated away.
func openTopicLog(dir string, policy SyncPolicy, lim limits) (*topicLog, error) {
	l := &topicLog{dir: dir, policy: policy, lim: lim}
	l.cond.L = &l.mu
	if dir == "" {
		return l, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create topic log directory: %w", err)
	}
	starts, err := segmentStarts(dir)
	if err != nil {
		return nil, err
	}
	for i, start := range starts {
		last := i == len(starts)-1
		if len(l.segs) > 0 && start != l.next {
			if start < l.next {
				return nil, fmt.Errorf("segment %s: starts at offset %d, want %d", segmentName(start), start, l.next)
			}
			// A gap: the retention deleted the segments before it, and a crash lost the deletion
			// of these older ones. They were acknowledged by every subscription: finish the job.
			for _, s := range l.segs {
				os.Remove(s.path)
			}
			l.segs, l.retained = nil, 0
		}
		s, err := scanSegment(dir, start)
		if err != nil && !(last && errors.Is(err, errTornFrame)) {
			return nil, fmt.Errorf("segment %s: %w", segmentName(start), err)
		}
		if last {
			if err := os.Truncate(s.path, s.size); err != nil {
				return nil, fmt.Errorf("truncate torn tail of %s: %w", s.path, err)
			}
		}
		if len(l.segs) == 0 {
			l.base = s.start
		}
		l.segs = append(l.segs, s)
		l.retained += s.size
		l.next = s.end
	}
	l.durable = l.next
	l.mem.reset(l.next)
	if len(l.segs) == 0 {
		return l, l.openSegment(0)
	}
	last := l.segs[len(l.segs)-1]
	f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	l.w = segWriter{f: f, start: last.start, size: last.size}
	return l, nil
}

// openSegment starts the segment file of offset start and makes it the writer's. It returns the
// new segment's metadata through l.segs only when called before the log is shared (at open).
func (l *topicLog) openSegment(start uint64) error {
	s, err := l.createSegment(start)
	if err != nil {
		return err
	}
	l.segs = append(l.segs, s)
	return nil
}

// createSegment creates the segment file of offset start and makes it the writer's.
func (l *topicLog) createSegment(start uint64) (*segment, error) {
	path := filepath.Join(l.dir, segmentName(start))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if l.policy != SyncNever {
		if err := syncDir(l.dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	l.w = segWriter{f: f, start: start}
	return &segment{path: path, start: start, end: start, lastWrite: time.Now()}, nil
}

// appendLocked stamps m with the next offset and adds it to memory and, with a directory, its
// frame to the write buffer.
func (l *topicLog) appendLocked(m *danubepb.StreamMessage) uint64 {
	off := l.next
	l.next++
	m.MsgId.TopicOffset = off
	var size int
	if l.dir != "" {
		start := len(l.buf.data)
		l.buf.pos = append(l.buf.pos, int32(start))
		l.buf.data = append(l.buf.data, make([]byte, frameHeader)...)
		l.buf.data, _ = proto.MarshalOptions{}.MarshalAppend(l.buf.data, m)
		payload := l.buf.data[start+frameHeader:]
		binary.LittleEndian.PutUint32(l.buf.data[start:], uint32(len(payload)))
		binary.LittleEndian.PutUint32(l.buf.data[start+4:], crc32.Checksum(payload, crcTable))
		size = frameHeader + len(payload) + memOverhead
	} else {
		size = proto.Size(m) + memOverhead
	}
	l.mem.push(memEntry{m: m, size: int64(size), at: time.Now().UnixNano()})
	return off
}

// append adds m to the log, stamping msg_id.topic_offset, and returns once the message is durable
// under the log's SyncPolicy. notify is true when the caller must wake the subscriptions (it made
// messages durable); err is non-nil if the message could not be written.
func (l *topicLog) append(m *danubepb.StreamMessage) (notify bool, err error) {
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return false, err
	}
	off := l.appendLocked(m)
	switch {
	case l.dir == "":
		l.durable = off + 1
		l.mu.Unlock()
		return true, nil
	case l.policy == SyncEveryPublish:
		// One write and one fsync per message, in order, under the lock.
		for l.flushing {
			l.cond.Wait()
		}
		w, err := l.write(&l.buf, l.durable, true)
		l.buf.reset()
		if err != nil {
			l.failLocked(err)
			l.mu.Unlock()
			return false, err
		}
		l.applyLocked(w)
		l.mu.Unlock()
		return true, nil
	}
	// Group commit: whoever finds no flush in progress becomes the leader and writes everything
	// buffered so far with one write and one fsync; the others wait for a flush covering them.
	for l.durable <= off && l.err == nil {
		if l.flushing {
			l.cond.Wait()
			continue
		}
		l.flushing = true
		buf, start := l.buf, l.durable
		l.buf = l.spare
		l.buf.reset()
		l.mu.Unlock()
		w, werr := l.write(&buf, start, l.policy != SyncNever)
		l.mu.Lock()
		l.spare = buf
		l.flushing = false
		if werr != nil {
			l.failLocked(werr)
		} else {
			l.applyLocked(w)
			notify = true
		}
		l.cond.Broadcast()
	}
	err = l.err
	l.mu.Unlock()
	if err != nil {
		return false, err
	}
	return notify, nil
}

func (l *topicLog) failLocked(err error) {
	l.err = fmt.Errorf("topic log write: %w", err)
	l.cond.Broadcast()
}

// write writes buf, the frames of the messages from offset start on, to the last segment
// (starting a new segment first when that one is full) and fsyncs it when sync is set. Only one
// goroutine writes at a time: the flush leader, or an append under SyncEveryPublish while no
// flush runs. It touches only the writer's state; applyLocked publishes the result.
func (l *topicLog) write(buf *writeBuf, start uint64, sync bool) (written, error) {
	w := written{end: start + uint64(len(buf.pos))}
	if len(buf.pos) == 0 {
		return w, nil
	}
	if l.w.size >= l.lim.segment {
		if l.policy != SyncNever {
			if err := l.w.f.Sync(); err != nil {
				return w, err
			}
		}
		if err := l.w.f.Close(); err != nil {
			return w, err
		}
		s, err := l.createSegment(start)
		if err != nil {
			return w, err
		}
		w.rolled = s
	}
	for i, p := range buf.pos {
		if (start+uint64(i)-l.w.start)%indexEvery == 0 {
			w.marks = append(w.marks, l.w.size+int64(p))
		}
	}
	n, err := l.w.f.Write(buf.data)
	l.w.size += int64(n)
	w.bytes = int64(n)
	if err != nil {
		return w, err
	}
	if sync {
		return w, l.w.f.Sync()
	}
	return w, nil
}

// applyLocked records a successful write in the segment metadata, makes its messages visible and
// trims the read cache.
func (l *topicLog) applyLocked(w written) {
	if w.rolled != nil {
		l.segs = append(l.segs, w.rolled)
	}
	s := l.segs[len(l.segs)-1]
	s.index = append(s.index, w.marks...)
	s.end = w.end
	s.size += w.bytes
	s.lastWrite = time.Now()
	l.retained += w.bytes
	l.durable = w.end
	for l.mem.len() > 0 && l.mem.bytes > l.lim.cache && l.mem.start < l.durable {
		l.mem.pop()
	}
}

// visible returns the offset below which subscriptions may read.
func (l *topicLog) visible() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// snapshot returns the retained visible messages.
func (l *topicLog) snapshot() []*danubepb.StreamMessage {
	l.mu.Lock()
	from, n := l.base, int(l.durable-l.base)
	l.mu.Unlock()
	return l.read(from, n)
}

// read returns up to n visible messages from offset from on (from the first retained one if from
// is below it), from memory or from the segment files.
func (l *topicLog) read(from uint64, n int) []*danubepb.StreamMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	from = max(from, l.base)
	if from >= l.durable || n <= 0 {
		return nil
	}
	end := min(l.durable, from+uint64(n))
	var out []*danubepb.StreamMessage
	if from < l.mem.start {
		// A read error (a damaged segment file) returns what came before it; the subscription
		// tries again at its next dispatch.
		msgs, _ := l.readDisk(from, int(min(end, l.mem.start)-from))
		out = msgs
		from += uint64(len(msgs))
		if from < l.mem.start {
			return out
		}
	}
	for off := from; off < end; off++ {
		out = append(out, l.mem.get(off))
	}
	return out
}

// close waits for a running flush and closes the segment files.
func (l *topicLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.flushing {
		l.cond.Wait()
	}
	for _, s := range l.segs {
		s.close(&l.reader)
	}
	if l.w.f == nil {
		return nil
	}
	err := l.w.f.Close()
	l.w.f = nil
	if l.err == nil {
		l.err = errors.New("topic log closed")
	}
	return err
}

// syncDir fsyncs a directory so that new or renamed entries in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

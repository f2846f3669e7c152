package devbroker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// segmentMaxBytes is the size after which a topic log starts a new segment file.
const segmentMaxBytes = 64 << 20

// topicLog is the retained message log of a reliable topic: offsets are 0-based and gap-free,
// every message stays in memory (the devbroker never deletes retained data), and with a
// directory each message is also appended to segment files named after their first offset
// (00000000000000000000.seg, …), one frame per message holding the StreamMessage as stamped.
//
// Messages [0, durable) are visible to subscriptions: durable advances only after the append
// was written (and fsynced, depending on the SyncPolicy).
type topicLog struct {
	dir    string // "" = memory only
	policy SyncPolicy

	mu       sync.Mutex
	cond     sync.Cond // signalled when durable advances or a flush ends
	msgs     []*danubepb.StreamMessage
	durable  uint64
	buf      []byte // frames of messages [durable, len(msgs)) not yet written
	spare    []byte // the other half of the double buffer
	flushing bool   // a group-commit leader is writing
	err      error  // sticky write failure; the log refuses appends after it
	seg      *os.File
	segSize  int64
}

func segmentName(start uint64) string { return fmt.Sprintf("%020d.seg", start) }

// openTopicLog loads the log in dir ("" = a new in-memory log). A torn or corrupt tail of the last
// segment, left by a crash, is truncated away.
func openTopicLog(dir string, policy SyncPolicy) (*topicLog, error) {
	l := &topicLog{dir: dir, policy: policy}
	l.cond.L = &l.mu
	if dir == "" {
		return l, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create topic log directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read topic log directory: %w", err)
	}
	var starts []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok || e.IsDir() {
			continue
		}
		start, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		starts = append(starts, start)
	}
	slices.Sort(starts)
	for i, start := range starts {
		last := i == len(starts)-1
		if start != uint64(len(l.msgs)) {
			return nil, fmt.Errorf("segment %s: starts at offset %d, want %d", segmentName(start), start, len(l.msgs))
		}
		path := filepath.Join(dir, segmentName(start))
		valid, err := l.loadSegment(path)
		if err != nil && !(last && errors.Is(err, errTornFrame)) {
			return nil, fmt.Errorf("segment %s: %w", path, err)
		}
		if last {
			if err := os.Truncate(path, valid); err != nil {
				return nil, fmt.Errorf("truncate torn tail of %s: %w", path, err)
			}
			l.segSize = valid
		}
	}
	l.durable = uint64(len(l.msgs))
	if len(starts) == 0 {
		if err := l.openSegment(0); err != nil {
			return nil, err
		}
		return l, nil
	}
	f, err := os.OpenFile(filepath.Join(dir, segmentName(starts[len(starts)-1])), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	l.seg = f
	return l, nil
}

// loadSegment appends the messages of one segment file and returns the length of its valid
// prefix. It returns errTornFrame when the file ends in a damaged frame.
func (l *topicLog) loadSegment(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pos := 0
	for pos < len(data) {
		payload, n, err := nextFrame(data[pos:])
		if err != nil {
			return int64(pos), err
		}
		m := new(danubepb.StreamMessage)
		if err := proto.Unmarshal(payload, m); err != nil {
			return int64(pos), errTornFrame
		}
		if m.GetMsgId().GetTopicOffset() != uint64(len(l.msgs)) {
			return int64(pos), fmt.Errorf("message at byte %d has offset %d, want %d", pos, m.GetMsgId().GetTopicOffset(), len(l.msgs))
		}
		l.msgs = append(l.msgs, m)
		pos += n
	}
	return int64(pos), nil
}

func (l *topicLog) openSegment(start uint64) error {
	path := filepath.Join(l.dir, segmentName(start))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if l.policy != SyncNever {
		if err := syncDir(l.dir); err != nil {
			f.Close()
			return err
		}
	}
	l.seg, l.segSize = f, 0
	return nil
}

// appendLocked stamps m with the next offset and adds it to the log and, with a directory,
// its frame to the write buffer.
func (l *topicLog) appendLocked(m *danubepb.StreamMessage) uint64 {
	off := uint64(len(l.msgs))
	m.MsgId.TopicOffset = off
	l.msgs = append(l.msgs, m)
	if l.dir != "" {
		start := len(l.buf)
		l.buf = append(l.buf, make([]byte, frameHeader)...)
		l.buf, _ = proto.MarshalOptions{}.MarshalAppend(l.buf, m)
		payload := l.buf[start+frameHeader:]
		binary.LittleEndian.PutUint32(l.buf[start:], uint32(len(payload)))
		binary.LittleEndian.PutUint32(l.buf[start+4:], crc32.Checksum(payload, crcTable))
	}
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
		err := l.write(l.buf, off, true)
		l.buf = l.buf[:0]
		if err != nil {
			l.failLocked(err)
			l.mu.Unlock()
			return false, err
		}
		l.durable = off + 1
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
		buf, start, target := l.buf, l.durable, uint64(len(l.msgs))
		l.buf = l.spare[:0]
		l.mu.Unlock()
		werr := l.write(buf, start, l.policy != SyncNever)
		l.mu.Lock()
		l.spare = buf[:0]
		l.flushing = false
		if werr != nil {
			l.failLocked(werr)
		} else {
			l.durable = target
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

// write writes buf, the frames of the messages from offset start on, to the current segment
// (starting a new segment first when the current one is full) and fsyncs it when sync is set.
// Only one goroutine writes at a time: the flush leader, or an append under SyncEveryPublish
// while no flush runs.
func (l *topicLog) write(buf []byte, start uint64, sync bool) error {
	if len(buf) == 0 {
		return nil
	}
	if l.segSize >= segmentMaxBytes {
		if l.policy != SyncNever {
			if err := l.seg.Sync(); err != nil {
				return err
			}
		}
		if err := l.seg.Close(); err != nil {
			return err
		}
		if err := l.openSegment(start); err != nil {
			return err
		}
	}
	n, err := l.seg.Write(buf)
	l.segSize += int64(n)
	if err != nil {
		return err
	}
	if sync {
		return l.seg.Sync()
	}
	return nil
}

// visible returns the number of messages subscriptions may read.
func (l *topicLog) visible() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// get returns the message at off, which must be below visible().
func (l *topicLog) get(off uint64) *danubepb.StreamMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[off]
}

// snapshot returns the visible messages; the slice must not be modified.
func (l *topicLog) snapshot() []*danubepb.StreamMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[:l.durable:l.durable]
}

// close waits for a running flush and closes the segment file.
func (l *topicLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.flushing {
		l.cond.Wait()
	}
	if l.seg == nil {
		return nil
	}
	err := l.seg.Close()
	l.seg = nil
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

// read returns up to n visible messages from offset from on. The slice must not be modified.
func (l *topicLog) read(from uint64, n int) []*danubepb.StreamMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from >= l.durable {
		return nil
	}
	end := min(l.durable, from+uint64(n))
	return l.msgs[from:end:end]
}

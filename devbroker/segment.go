package devbroker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// indexEvery is the spacing, in messages, of the file positions a segment remembers: reading an
// offset scans at most indexEvery-1 frames from the nearest remembered position.
const indexEvery = 64

// segment is one file of a reliable topic's log on disk, holding the frames of messages
// [start, end). Its metadata is guarded by topicLog.mu.
type segment struct {
	path      string
	start     uint64
	end       uint64
	size      int64     // bytes of durable frames
	lastWrite time.Time // when the last frame was written (file mtime at start-up)
	index     []int64   // index[k] = file position of message start + k·indexEvery
	rf        *os.File  // read handle, opened on the first read
}

func segmentName(start uint64) string { return fmt.Sprintf("%020d.seg", start) }

// close closes the segment's read handle; r forgets it.
func (s *segment) close(r *frameReader) {
	if r.f == s.rf {
		r.f, r.n = nil, 0
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
}

// locate returns the position of a frame at or before offset off (which the segment holds) and
// that frame's offset.
func (s *segment) locate(off uint64) (pos int64, at uint64) {
	k := (off - s.start) / indexEvery
	return s.index[k], s.start + k*indexEvery
}

// segmentStarts lists the segment files of dir by their first offset, sorted.
func segmentStarts(dir string) ([]uint64, error) {
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
	return starts, nil
}

// scanSegment reads the segment file starting at offset start, checks that its messages carry
// consecutive offsets and builds its index. It returns the segment of its valid prefix;
// errTornFrame means the file ends in a damaged frame after that prefix.
func scanSegment(dir string, start uint64) (*segment, error) {
	path := filepath.Join(dir, segmentName(start))
	s := &segment{path: path, start: start, end: start}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		s.lastWrite = st.ModTime()
	}
	r := frameReader{f: f}
	var m danubepb.StreamMessage
	for {
		payload, n, err := r.next(s.size)
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		if err := proto.Unmarshal(payload, &m); err != nil {
			return s, errTornFrame
		}
		if got := m.GetMsgId().GetTopicOffset(); got != s.end {
			return s, fmt.Errorf("message at byte %d has offset %d, want %d", s.size, got, s.end)
		}
		if (s.end-s.start)%indexEvery == 0 {
			s.index = append(s.index, s.size)
		}
		s.end++
		s.size += int64(n)
	}
}

// frameReader reads frames from a file at given positions through a reusable buffer.
type frameReader struct {
	f   *os.File
	buf []byte
	off int64 // file position of buf[0]
	n   int   // valid bytes in buf
}

const frameChunk = 64 << 10

// next returns the payload of the frame at file position pos (valid until the next call) and the
// frame's length. It returns io.EOF at the end of the file and errTornFrame for a damaged or
// incomplete frame.
func (r *frameReader) next(pos int64) ([]byte, int, error) {
	if err := r.fill(pos, frameHeader); err != nil {
		return nil, 0, err
	}
	h := r.buf[pos-r.off:]
	size := binary.LittleEndian.Uint32(h)
	if size > maxFrame {
		return nil, 0, errTornFrame
	}
	if err := r.fill(pos, frameHeader+int(size)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, errTornFrame
		}
		return nil, 0, err
	}
	payload, n, err := nextFrame(r.buf[pos-r.off : r.n])
	return payload, n, err
}

// fill makes sure buf holds the need bytes from pos, reading when it does not. It returns io.EOF
// when the file ends at pos and errTornFrame when it ends less than need bytes after pos.
func (r *frameReader) fill(pos int64, need int) error {
	if pos >= r.off && pos+int64(need) <= r.off+int64(r.n) {
		return nil
	}
	size := max(frameChunk, need)
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:size]
	n, err := r.f.ReadAt(r.buf, pos)
	r.off, r.n = pos, n
	if n >= need {
		return nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if n == 0 {
		return io.EOF
	}
	return errTornFrame
}

// readDisk returns up to n messages from offset from on, read from the segment files; from must
// lie in a segment. The caller holds mu.
func (l *topicLog) readDisk(from uint64, n int) ([]*danubepb.StreamMessage, error) {
	i, _ := slices.BinarySearchFunc(l.segs, from, func(s *segment, off uint64) int {
		switch {
		case s.end <= off:
			return -1
		case s.start > off:
			return 1
		}
		return 0
	})
	var out []*danubepb.StreamMessage
	for ; i < len(l.segs) && len(out) < n; i++ {
		s := l.segs[i]
		if from >= s.end {
			continue
		}
		if s.rf == nil {
			f, err := os.Open(s.path)
			if err != nil {
				return out, fmt.Errorf("open segment: %w", err)
			}
			s.rf = f
		}
		pos, at := s.locate(from)
		if h := l.hint; h.seg == s && h.off <= from && h.off > at {
			pos, at = h.pos, h.off
		}
		r := &l.reader
		if r.f != s.rf {
			// Another file: what the buffer holds is not this one's. (Within one file it stays
			// valid: written frames never change.)
			r.f, r.n = s.rf, 0
		}
		for at < s.end && len(out) < n {
			payload, fn, err := r.next(pos)
			if err != nil {
				return out, fmt.Errorf("read segment %s at byte %d: %w", s.path, pos, err)
			}
			if at >= from {
				m := new(danubepb.StreamMessage)
				if err := proto.Unmarshal(payload, m); err != nil {
					return out, fmt.Errorf("decode message %d: %w", at, err)
				}
				out = append(out, m)
			}
			at++
			pos += int64(fn)
		}
		l.hint = readHint{seg: s, off: at, pos: pos}
		from = at
	}
	return out, nil
}

// readHint remembers where the last disk read ended, so that a reader going on from there does
// not scan from an index position.
type readHint struct {
	seg *segment
	off uint64
	pos int64
}

// memEntry is a message kept in memory.
type memEntry struct {
	m    *danubepb.StreamMessage
	size int64 // bytes counted against the cache or the retention
	at   int64 // append time, Unix nanoseconds
}

// memQueue holds the in-memory messages of a log, consecutive offsets from start.
type memQueue struct {
	start uint64
	items []memEntry
	head  int
	bytes int64
}

func (q *memQueue) len() int { return len(q.items) - q.head }

func (q *memQueue) end() uint64 { return q.start + uint64(q.len()) }

func (q *memQueue) push(e memEntry) {
	q.items = append(q.items, e)
	q.bytes += e.size
}

func (q *memQueue) front() *memEntry { return &q.items[q.head] }

func (q *memQueue) get(off uint64) *danubepb.StreamMessage {
	return q.items[q.head+int(off-q.start)].m
}

// pop drops the first message.
func (q *memQueue) pop() {
	q.bytes -= q.items[q.head].size
	q.items[q.head] = memEntry{}
	q.head++
	q.start++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head >= 1024 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// reset empties the queue, which then starts at offset start.
func (q *memQueue) reset(start uint64) {
	clear(q.items)
	*q = memQueue{start: start, items: q.items[:0]}
}

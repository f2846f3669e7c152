package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Tally counts the sequence numbers found in the file sink's output: how
// many times each of 0..N-1 was written.
type Tally struct {
	counts []uint32
	// Lines is the number of records read.
	Lines int64
	// Torn is the number of lines cut short by a kill of the sink (their
	// records were not acked, so they were written again after the restart).
	Torn int64
	// Foreign is the number of lines that carry no sequence number in range.
	Foreign int64

	distinct int
	pending  []byte // an incomplete last line
	offset   int64  // bytes of the file consumed so far
}

// NewTally returns a tally of the sequence numbers 0..n-1.
func NewTally(n int) *Tally { return &Tally{counts: make([]uint32, n)} }

// Distinct returns how many of the n sequence numbers were seen at least once.
func (t *Tally) Distinct() int { return t.distinct }

// Lost returns how many sequence numbers were never seen.
func (t *Tally) Lost() int { return len(t.counts) - t.distinct }

// Duplicated returns the number of extra copies: records seen more than
// once count once per copy beyond the first.
func (t *Tally) Duplicated() int64 {
	var d int64
	for _, c := range t.counts {
		if c > 1 {
			d += int64(c - 1)
		}
	}
	return d
}

// Missing returns up to max sequence numbers never seen, in order.
func (t *Tally) Missing(max int) []int {
	var out []int
	for i, c := range t.counts {
		if c == 0 {
			out = append(out, i)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

// ReadFile reads what was appended to path since the last call and counts
// the complete lines. A missing file is not an error (nothing written yet).
func (t *Tally) ReadFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	t.offset += int64(len(b))
	t.Add(b)
	return nil
}

// Add counts the complete lines of b, keeping an incomplete last line
// until the rest arrives.
func (t *Tally) Add(b []byte) {
	if len(t.pending) > 0 {
		b = append(t.pending, b...)
		t.pending = nil
	}
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		t.line(b[:i])
		b = b[i+1:]
	}
	if len(b) > 0 {
		t.pending = append([]byte(nil), b...)
	}
}

// lineStart begins every line of the file sink.
var lineStart = []byte(`{"topic":`)

// line counts one line. A line the sink was killed in the middle of is
// followed, without a newline, by the first line the restarted sink wrote:
// only that complete last part counts.
func (t *Tally) line(l []byte) {
	l = bytes.TrimSpace(l)
	if len(l) == 0 {
		return
	}
	seq, ok := seqOf(l)
	if !ok {
		if i := bytes.LastIndex(l, lineStart); i > 0 {
			t.Torn++
			seq, ok = seqOf(l[i:])
		}
	}
	t.Lines++
	if !ok || seq < 0 || seq >= int64(len(t.counts)) {
		t.Foreign++
		return
	}
	if t.counts[seq] == 0 {
		t.distinct++
	}
	t.counts[seq]++
}

// seqOf returns the generator's sequence number in one file sink line:
// {"topic":…,"payload":{"seq":N,"data":"…"}}.
func seqOf(l []byte) (int64, bool) {
	var line struct {
		Payload struct {
			Seq *int64 `json:"seq"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(l, &line); err != nil || line.Payload.Seq == nil {
		return 0, false
	}
	return *line.Payload.Seq, true
}

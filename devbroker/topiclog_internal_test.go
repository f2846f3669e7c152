package devbroker

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

func TestRedeliveryDelay(t *testing.T) {
	p := FailurePolicy{}.withDefaults()
	for _, tc := range []struct {
		n         int
		requested time.Duration
		want      time.Duration
	}{
		{1, 0, time.Second},
		{2, 0, 2 * time.Second},
		{5, 0, 16 * time.Second},
		{7, 0, 60 * time.Second},
		{1, 5 * time.Second, 5 * time.Second},   // a client delay lengthens
		{3, time.Second, 4 * time.Second},       // but never shortens
		{1, 10 * time.Minute, 60 * time.Second}, // and is capped
		{100, 0, 60 * time.Second},
	} {
		if got := p.delay(tc.n, tc.requested); got != tc.want {
			t.Errorf("delay(%d, %v) = %v, want %v", tc.n, tc.requested, got, tc.want)
		}
	}
	fixed := FailurePolicy{Backoff: Fixed, BaseRedeliveryDelay: 3 * time.Second}.withDefaults()
	if got := fixed.delay(4, 0); got != 3*time.Second {
		t.Errorf("fixed delay = %v", got)
	}
	if p.MaxRedeliveryCount != 5 || p.AckTimeout != 30*time.Second || p.Poison != Block {
		t.Errorf("defaults %+v", p)
	}
	if none := (FailurePolicy{MaxRedeliveryCount: -1}).withDefaults(); none.MaxRedeliveryCount != 0 {
		t.Errorf("negative MaxRedeliveryCount = %d", none.MaxRedeliveryCount)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "apple", true},
		{"a*", "banana", false},
		{"b?", "bx", true},
		{"b?", "bxx", false},
		{"*-eu", "order-eu", true},
		{"*-eu", "order-us", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"", "", true},
		{"", "x", false},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

func TestFrames(t *testing.T) {
	buf := appendFrame(nil, []byte("hello"))
	buf = appendFrame(buf, []byte("world"))
	p, n, err := nextFrame(buf)
	if err != nil || string(p) != "hello" {
		t.Fatalf("first frame %q, %v", p, err)
	}
	if p, _, err := nextFrame(buf[n:]); err != nil || string(p) != "world" {
		t.Fatalf("second frame %q, %v", p, err)
	}
	for cut := range len(buf) - n {
		if _, _, err := nextFrame(buf[n : n+cut]); err == nil {
			t.Fatalf("torn frame of %d bytes accepted", cut)
		}
	}
	bad := append([]byte(nil), buf...)
	bad[frameHeader] ^= 1
	if _, _, err := nextFrame(bad); err == nil {
		t.Fatal("corrupt frame accepted")
	}
}

func FuzzNextFrame(f *testing.F) {
	f.Add(appendFrame(nil, []byte("seed")))
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, n, err := nextFrame(data)
		if err != nil {
			return
		}
		if n != len(p)+frameHeader || n > len(data) {
			t.Fatalf("frame length %d for payload %d in %d bytes", n, len(p), len(data))
		}
		if again := appendFrame(nil, p); string(again) != string(data[:n]) {
			t.Fatal("a valid frame does not re-encode to itself")
		}
	})
}

func BenchmarkTopicLogGroupCommit(b *testing.B) {
	l, err := openTopicLog(b.TempDir(), SyncBatched, Config{}.withDefaults().limits())
	if err != nil {
		b.Fatal(err)
	}
	defer l.close()
	payload := make([]byte, 256)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.append(&danubepb.StreamMessage{MsgId: &danubepb.MsgID{TopicName: "/default/t"}, Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestTopicLogAfterRetention reopens a log whose first segments the retention deleted: it starts
// at the first remaining offset, reads from disk beyond its cache, truncates a torn tail, and
// drops older segments left before a gap (a deletion a crash did not persist).
func TestTopicLogAfterRetention(t *testing.T) {
	dir := t.TempDir()
	lim := limits{bytes: 2 << 10, age: -1, segment: 1 << 10, cache: 1}
	l, err := openTopicLog(dir, SyncNever, lim)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		m := &danubepb.StreamMessage{MsgId: &danubepb.MsgID{TopicName: "/default/t"}, Payload: []byte{byte(i)}}
		if _, err := l.append(m); err != nil {
			t.Fatal(err)
		}
	}
	first, err := os.ReadFile(l.segs[0].path)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.trim(150, time.Now()); n == 0 {
		t.Fatal("nothing trimmed")
	}
	base := l.base
	if base == 0 || base > 150 || len(l.segs) < 3 {
		t.Fatalf("base %d with %d segments", base, len(l.segs))
	}
	keep := l.segs[1].start
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	// A crash after the retention deleted the first remaining segment too, but lost the deletion
	// of segment 0: segment 0, a gap, then the rest; and the last frame is torn.
	if err := os.WriteFile(filepath.Join(dir, segmentName(0)), first, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.segs[0].path); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(dir, segmentName(l.segs[len(l.segs)-1].start))
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{9, 0, 0, 0, 1, 2})
	f.Close()

	l2, err := openTopicLog(dir, SyncNever, lim)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.close()
	if l2.base != keep || l2.next != 200 {
		t.Fatalf("reopened at [%d, %d), want [%d, 200)", l2.base, l2.next, keep)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(0))); !os.IsNotExist(err) {
		t.Errorf("the segment before the gap is still there: %v", err)
	}
	got := l2.read(0, 1000)
	if len(got) != int(200-keep) || got[0].GetMsgId().GetTopicOffset() != keep || got[len(got)-1].Payload[0] != 199 {
		t.Fatalf("read %d messages from %d", len(got), got[0].GetMsgId().GetTopicOffset())
	}
}

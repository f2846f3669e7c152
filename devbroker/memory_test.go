package devbroker

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// envMemoryFull makes TestMemoryStaysFlat publish 1,000,000 records instead of 200,000.
const envMemoryFull = "DEVBROKER_MEMORY_FULL"

// heapAfterGC returns the live heap after a full collection and the process's resident size.
func heapAfterGC() (heap, rss uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, residentBytes()
}

// residentBytes reads VmRSS from /proc/self/status (0 where there is none).
func residentBytes() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestMemoryStaysFlat publishes many small records to a reliable topic and compares the live heap
// after a tenth of them with the heap after all of them: it must not grow with the record count.
// With a data directory the records stay on disk (a subscription that never acknowledges keeps
// every one of them retained) and memory holds only the read cache; in memory, records that
// every subscription acknowledged (here: a topic without subscriptions) are dropped beyond the
// retention. The keep-all subtest, without retention, is the baseline: it grows by ~200 bytes
// per record.
func TestMemoryStaysFlat(t *testing.T) {
	n := 200_000
	if os.Getenv(envMemoryFull) != "" {
		n = 1_000_000
	}
	for _, mode := range []string{"durable", "memory", "keep-all"} {
		t.Run(mode, func(t *testing.T) {
			durable := mode == "durable"
			cfg := Config{Sync: SyncNever, TimerTick: 5 * time.Millisecond}
			if durable {
				cfg.DataDir = t.TempDir()
			}
			if mode == "keep-all" {
				// The baseline of the same run: no retention, every record in memory, as the
				// devbroker kept them before. Its growth is reported, not asserted.
				cfg.RetentionBytes, cfg.RetentionTime = -1, -1
			}
			b, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			st := b.state()
			tp, err := st.createTopic("/default/flat", true)
			if err != nil {
				t.Fatal(err)
			}
			if durable {
				if _, err := tp.subscribe("lagging", "c", subExclusive, nil); err != nil {
					t.Fatal(err)
				}
			}
			publish := func(k int) {
				for range k {
					m := &danubepb.StreamMessage{MsgId: &danubepb.MsgID{TopicName: tp.name}, Payload: make([]byte, 32),
						ProducerName: "p", PublishTime: uint64(time.Now().UnixMilli())}
					if err := tp.publish(m); err != nil {
						t.Fatal(err)
					}
				}
				st.retain(time.Now())
			}
			base, baseRSS := heapAfterGC()
			publish(n / 10)
			tenth, tenthRSS := heapAfterGC()
			publish(n - n/10)
			all, allRSS := heapAfterGC()
			t.Logf("live heap: %.1f MiB before, %.1f MiB after %d records, %.1f MiB after %d: ×%.2f (RSS %.1f, %.1f, %.1f MiB)",
				mib(base), mib(tenth), n/10, mib(all), n, float64(all)/float64(tenth), mib(baseRSS), mib(tenthRSS), mib(allRSS))
			if durable {
				if got := tp.log.read(0, 1); len(got) != 1 || got[0].GetMsgId().GetTopicOffset() != 0 {
					t.Fatalf("the first record is not retained for the lagging subscription: %v", got)
				}
			}
			if mode == "keep-all" {
				t.Logf("keep-all baseline: live heap ×%.1f from %d to %d records", float64(all)/float64(tenth), n/10, n)
				return
			}
			if all > 2*tenth+4<<20 {
				t.Errorf("live heap grew from %.1f MiB after %d records to %.1f MiB after %d", mib(tenth), n/10, mib(all), n)
			}
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

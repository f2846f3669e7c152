package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/danube-connect/connect/danube"
)

// TestFileSinkDefaultsDrainWindowTen runs the file sink with no
// [processing] settings against a broker whose window is 10 unacked
// messages (a Danube broker's default): 3,000 reliable records must all be
// written well within the command's wait. A sink that waits for full
// batches gets 10 records per batch timeout (about 300 s for these).
func TestFileSinkDefaultsDrainWindowTen(t *testing.T) {
	const n = 3000
	b := startBroker(t) // default window: 10
	ctx := t.Context()
	c, err := danube.NewClient(ctx, b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.NewProducer(ctx, "/default/window", danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	// The sink's subscription must exist before the records: a new
	// subscription starts at the latest offset.
	cons, err := c.NewConsumer(ctx, "/default/window", "window-sink")
	if err != nil {
		t.Fatal(err)
	}
	_ = cons.Close()
	for i := range n {
		err := p.SendAsync(ctx, &danube.OutgoingMessage{Payload: fmt.Appendf(nil, `{"seq":%d}`, i)}, func(err error) {
			if err != nil {
				t.Errorf("send %d: %v", i, err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()

	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	cfg := filepath.Join(dir, "sink.toml")
	writeFile(t, cfg, fmt.Sprintf(`connector_name = "window-sink"
connector = "file"
danube_service_url = %q
[[topics]]
topic = "/default/window"
[observability]
http_addr = "off"
[file]
path = %q
max_records = %d
`, b.URL(), out, n))
	// runCLI fails the test when the command takes longer than testTimeout.
	r := runCLI(t, ctx, nil, "run", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	got := seqs(t, out)
	for i := range n {
		if got[i] != 1 {
			t.Fatalf("sequence %d written %d times (%d distinct records)", i, got[i], len(got))
		}
	}
}

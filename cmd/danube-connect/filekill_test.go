package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect/danube"
)

// A file sink with append = false killed with SIGKILL mid-run and started
// again keeps every record it had written and acknowledged: the restart
// appends (the run is still in progress) instead of truncating, the run
// finishes, and no record is lost.
func TestFileSinkNoAppendSurvivesKill9(t *testing.T) {
	const n = 1000
	b := startBroker(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "records.jsonl")
	cfg := filepath.Join(dir, "sink.toml")
	writeFile(t, cfg, fmt.Sprintf(`connector_name = "k9-sink"
connector = "file"
danube_service_url = %q
[[topics]]
topic = "/default/k9"
[processing]
drain_timeout = "5s"
[file]
path = %q
append = false
max_records = %d
`, b.URL(), out, n))

	// The sink's subscription exists before the records are published.
	createTopic(t, b.URL(), "/default/k9")
	cl, err := danube.NewClient(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, err := cl.NewConsumer(t.Context(), "/default/k9", "k9-sink", danube.WithConsumerName("k9-sink"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p, err := cl.NewProducer(t.Context(), "/default/k9", danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: fmt.Appendf(nil, `{"seq":%d}`, i)}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()

	var logs bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCLIChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCLIChild+"=run -c "+cfg+" --http-addr off")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() }) // waited for below
		return cmd
	}
	first := start()
	eventually(t, "a quarter of the records written", func() bool { return len(seqs(t, out)) >= n/4 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	before := seqs(t, out)

	second := start()
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("restarted sink: %v\n%s", err, logs.String())
		}
	case <-time.After(testTimeout):
		t.Fatalf("restarted sink did not finish\n%s", logs.String())
	}
	got := seqs(t, out)
	for seq := range before {
		if got[seq] == 0 {
			t.Fatalf("record %d, written before the kill, is gone after the restart (the file was truncated)", seq)
		}
	}
	// max_records counts lines, redelivered duplicates included: a record
	// the run did not write before it finished stays unacknowledged on the
	// broker, so nothing is lost.
	missing := map[int]bool{}
	for i := range n {
		if got[i] == 0 {
			missing[i] = true
		}
	}
	if len(missing) > 0 {
		rest, err := cl.NewConsumer(t.Context(), "/default/k9", "k9-sink", danube.WithConsumerName("k9-check"))
		if err != nil {
			t.Fatal(err)
		}
		defer rest.Close()
		for len(missing) > 0 {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			m, err := rest.Receive(ctx)
			cancel()
			if err != nil {
				t.Fatalf("records %v neither in the file nor left on the broker: %v", missing, err)
			}
			var r struct{ Seq int }
			_ = json.Unmarshal(m.Payload, &r)
			delete(missing, r.Seq)
			_ = rest.Ack(t.Context(), m)
		}
	}
	if _, err := os.Stat(out + ".running"); !os.IsNotExist(err) {
		t.Fatalf("run marker left after the run finished: %v", err)
	}
}

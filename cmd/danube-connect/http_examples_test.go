package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyExample copies an example file into dir, replacing old with new
// (the fixed ports of the examples become free ones).
func copyExample(t *testing.T, dir, file string, replace ...string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), file))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, file), strings.NewReplacer(replace...).Replace(string(data)))
}

// The HTTP sink example as documented: the quickstart generator → http
// sink → the webhook of receiver.toml, in one process; a file sink on the
// receiver's topic shows that all 1000 records went round.
func TestHTTPSinkExample(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	copyExample(t, dir, "examples/quickstart/generator.toml")
	copyExample(t, dir, "examples/http-sink/http-sink.toml", "127.0.0.1:8081", addr)
	copyExample(t, dir, "examples/http-sink/receiver.toml", "127.0.0.1:8081", addr)
	writeFile(t, filepath.Join(dir, "received.toml"), `connector_name = "received"
connector = "file"
[[topics]]
topic = "/default/received"
[file]
path = "out/received.jsonl"
max_records = 1000
`)
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := startCLI(t, ctx, nil, nil, "run", "--devbroker", "-c", "received.toml", "-c", "examples/http-sink/receiver.toml",
		"-c", "examples/http-sink/http-sink.toml", "-c", "examples/quickstart/generator.toml")
	eventually(t, "1000 records through the http sink and the webhook", func() bool {
		data, _ := os.ReadFile("out/received.jsonl")
		return strings.Count(string(data), "\n") >= 1000
	})
	cancel()
	res := r.wait(t)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	got := seqs(t, "out/received.jsonl")
	for i := range 1000 {
		if got[i] == 0 {
			t.Fatalf("sequence %d did not go round (%d distinct)", i, len(got))
		}
	}
	// The connectors start together: the sink may post its first batch
	// before the webhook listens; those writes fail, are retried and
	// count as failed attempts, so only what was written is checked.
	for _, want := range []string{"http-sink (http sink): 1000 received, 1000 written, ", "http-receiver (webhook source): 1000 received, 1000 published"} {
		if !strings.Contains(res.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

// The webhook example runs and answers as its comments say.
func TestWebhookExample(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	copyExample(t, dir, "examples/webhook/webhook.toml", "127.0.0.1:8080", addr)
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := startCLI(t, ctx, nil, nil, "run", "--devbroker", "-c", "examples/webhook/webhook.toml")
	var status int
	eventually(t, "the webhook to accept an order", func() bool {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/orders", strings.NewReader(`{"order":1,"customer":"c7"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", "change-me")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		status = resp.StatusCode
		return status == 200
	})
	resp, err := http.Post("http://"+addr+"/hooks/orders", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("without the API key: %d, want 401", resp.StatusCode)
	}
	cancel()
	if res := r.wait(t); res.code != 0 || !strings.Contains(res.stderr.String(), "webhook (webhook source): 1 received, 1 published") {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
}

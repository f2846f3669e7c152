package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect/connectors/file"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/testchild"
)

var update = flag.Bool("update", false, "rewrite docs/config-reference.md")

// testTimeout bounds every wait; generous for -race on shared CPUs.
const testTimeout = 60 * time.Second

// result is the outcome of one in-process command.
type result struct {
	code           int
	stdout, stderr *testchild.Buffer
}

// runCLI runs the command line in-process and waits for it.
func runCLI(t *testing.T, ctx context.Context, env []string, args ...string) result {
	t.Helper()
	r := startCLI(t, ctx, env, nil, args...)
	return r.wait(t)
}

type running struct {
	result
	done    chan struct{}
	started chan string
}

func (r *running) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(testTimeout):
		t.Fatalf("command did not finish; stderr:\n%s", r.stderr)
	}
	return r.result
}

// awaitStarted returns what the command passed to its started hook.
func (r *running) awaitStarted(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.started:
		return s
	case <-r.done:
		t.Fatalf("command ended (code %d) before it started; stderr:\n%s", r.code, r.stderr)
	case <-time.After(testTimeout):
		t.Fatalf("command did not start; stderr:\n%s", r.stderr)
	}
	return ""
}

// startCLI runs the command line in a goroutine.
func startCLI(t *testing.T, ctx context.Context, env []string, hup <-chan os.Signal, args ...string) *running {
	t.Helper()
	r := &running{result: result{stdout: &testchild.Buffer{}, stderr: &testchild.Buffer{}}, done: make(chan struct{}), started: make(chan string, 1)}
	c := &cli{stdin: strings.NewReader(""), stdout: r.stdout, stderr: r.stderr, env: env, hup: hup,
		started: func(s string) {
			select {
			case r.started <- s:
			default:
			}
		}}
	go func() {
		defer close(r.done)
		r.code = execute(ctx, args, c)
	}()
	t.Cleanup(func() { <-r.done })
	return r
}

func startBroker(t *testing.T) *devbroker.Broker {
	t.Helper()
	// A short ack timeout redelivers quickly what a drained consumer left unacked.
	b, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: t.TempDir(), TimerTick: 10 * time.Millisecond,
		FailurePolicy: devbroker.FailurePolicy{AckTimeout: time.Second, BaseRedeliveryDelay: 10 * time.Millisecond}})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Write then rename, as editors do, so a watcher never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// seqs reads a file sink's output and returns how often each generator
// sequence number appears.
func seqs(t *testing.T, path string) map[int]int {
	t.Helper()
	out := map[int]int{}
	data, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l file.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue // a line being written
		}
		var p struct{ Seq int }
		if err := json.Unmarshal(l.Payload, &p); err != nil {
			t.Fatalf("payload %s: %v", l.Payload, err)
		}
		out[p.Seq]++
	}
	return out
}

func TestInvalidCorpusExitCode(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "config/testdata/invalid/*"))
	if len(files) < 30 {
		t.Fatalf("corpus has %d files", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, _ := os.ReadFile(path)
			first, _, _ := strings.Cut(string(data), "\n")
			want := strings.TrimPrefix(first, "# want: ")
			r := runCLI(t, t.Context(), nil, "validate", "-c", path)
			if r.code != exitUsage {
				t.Fatalf("exit code %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr.String(), want) {
				t.Fatalf("stderr:\n%s\nwant %q", r.stderr, want)
			}
		})
	}
}

func TestExamplesValidate(t *testing.T) {
	var files []string
	root := filepath.Join(repoRoot(t), "examples")
	// The examples are run from the repository root: relative paths in
	// them (schema files) resolve against it.
	t.Chdir(repoRoot(t))
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && regexp.MustCompile(`\.(toml|ya?ml)$`).MatchString(p) {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 2 {
		t.Fatalf("found %d example configs", len(files))
	}
	for _, f := range files {
		r := runCLI(t, t.Context(), nil, "validate", "-c", f)
		if r.code != 0 {
			t.Errorf("%s: exit %d\n%s", f, r.code, r.stderr)
		}
	}
}

func TestDocsUpToDate(t *testing.T) {
	var b bytes.Buffer
	if err := writeReference(&b, ""); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repoRoot(t), "docs/config-reference.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatal("docs/config-reference.md is out of date: run go test ./cmd/danube-connect -run TestDocsUpToDate -update")
	}
	r := runCLI(t, t.Context(), nil, "docs", "generator")
	if r.code != 0 || !strings.Contains(r.stdout.String(), "`key_pattern`") || strings.Contains(r.stdout.String(), "`max_records`") {
		t.Fatalf("docs generator: %d\n%s", r.code, r.stdout)
	}
}

func TestUsageExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"version"}, 0},
		{[]string{"--help"}, 0},
		{[]string{"run"}, exitUsage},
		{[]string{"validate", "--bogus"}, exitUsage},
		{[]string{"produce", "-m", "x"}, exitUsage},
		{[]string{"consume", "-t", "/default/x", "-m", "s", "--sub-type", "round"}, exitUsage},
		{[]string{"docs", "nosuch"}, exitUsage},
		{[]string{"devbroker", "--sync", "sometimes"}, exitUsage},
		{[]string{"validate", "-c", "does-not-exist.toml"}, exitUsage},
		{[]string{"nosuchcommand"}, exitUsage},
	} {
		r := runCLI(t, t.Context(), nil, tc.args...)
		if r.code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, r.code, tc.code, r.stderr)
		}
	}
	// CONNECTOR_CONFIG_PATH names the file when -c is absent.
	ex := filepath.Join(repoRoot(t), "examples/quickstart/generator.toml")
	if r := runCLI(t, t.Context(), []string{"CONNECTOR_CONFIG_PATH=" + ex}, "validate"); r.code != 0 {
		t.Errorf("validate via CONNECTOR_CONFIG_PATH: %d %s", r.code, r.stderr)
	}
}

// The quickstart exactly as documented: one command, in-process broker,
// generator → Danube → file sink, finishing by itself.
func TestQuickstart(t *testing.T) {
	copyQuickstart(t)
	r := runCLI(t, t.Context(), nil, "run", "--devbroker", "-c", "examples/quickstart/generator.toml", "-c", "examples/quickstart/file-sink.toml")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	got := seqs(t, "out/quickstart/records.jsonl")
	for i := range 1000 {
		if got[i] != 1 {
			t.Fatalf("sequence %d written %d times (%d distinct records)", i, got[i], len(got))
		}
	}
	for _, want := range []string{"summary after", "quickstart-generator (generator source): 1000 received, 1000 published",
		"quickstart-sink (file sink): 1000 received, 1000 written, 0 failed"} {
		if !strings.Contains(r.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

const genConfig = `connector_name = "gen"
connector = "generator"
[generator]
topic = "/default/%s"
count = %d
rate = %d
[source]
offsets_dir = "%s"
commit_interval = "50ms"
[processing]
drain_timeout = "5s"
`

const sinkConfig = `connector_name = "%s"
connector = "file"
[[topics]]
topic = "/default/%s"
[processing]
batch_size = 50
batch_timeout_ms = 5
drain_timeout = "5s"
[file]
path = "%s"
%s
`

func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricValue(body, name, connector string) float64 {
	re := regexp.MustCompile(`(?m)^` + name + `\{[^}]*connector="` + connector + `"[^}]*\} (\S+)$`)
	total := 0.0
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return total
}

// Metrics and readiness move while records flow through a real run.
func TestMetricsAndReadyz(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	gen, sink := filepath.Join(dir, "gen.toml"), filepath.Join(dir, "sink.toml")
	writeFile(t, gen, fmt.Sprintf(genConfig, "metrics", 0, 200, filepath.Join(dir, "offsets")))
	writeFile(t, sink, fmt.Sprintf(sinkConfig, "sink", "metrics", filepath.Join(dir, "out.jsonl"), ""))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := startCLI(t, ctx, []string{"DANUBE_SERVICE_URL=" + b.URL()}, nil, "run", "--http-addr", "127.0.0.1:0", "-c", gen, "-c", sink)
	base := "http://" + r.awaitStarted(t)

	eventually(t, "/readyz 200", func() bool { code, _ := scrape(t, base+"/readyz"); return code == 200 })
	if code, body := scrape(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	_, body := scrape(t, base+"/metrics")
	first := metricValue(body, "danube_connector_messages_processed_total", "sink")
	eventually(t, "the sink's processed counter to grow", func() bool {
		_, body := scrape(t, base+"/metrics")
		return metricValue(body, "danube_connector_messages_processed_total", "sink") > first+20 &&
			metricValue(body, "danube_connector_messages_processed_total", "gen") > 20
	})
	_, body = scrape(t, base+"/metrics")
	if !strings.Contains(body, `danube_connector_health{connector="sink"} 1`) {
		t.Errorf("metrics lack the sink's health gauge:\n%s", body)
	}
	cancel()
	if res := r.wait(t); res.code != 0 {
		t.Fatalf("exit %d after SIGINT; stderr:\n%s", res.code, res.stderr)
	}
}

// Hot reload: the sink's file changes mid-stream; the new configuration
// takes effect and no record is lost.
func TestHotReload(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	gen, sink := filepath.Join(dir, "gen.toml"), filepath.Join(dir, "sink.toml")
	outA, outB := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	const n = 2000
	writeFile(t, gen, fmt.Sprintf(genConfig, "reload", n, 1000, filepath.Join(dir, "offsets")))
	writeFile(t, sink, fmt.Sprintf(sinkConfig, "sink", "reload", outA, ""))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hup := make(chan os.Signal, 1)
	r := startCLI(t, ctx, []string{"DANUBE_SERVICE_URL=" + b.URL()}, hup, "run", "--http-addr", "off", "-c", gen, "-c", sink)
	r.awaitStarted(t)
	eventually(t, "records in the first file", func() bool { return len(seqs(t, outA)) >= 200 })

	// An invalid change is rejected and the running configuration stays.
	writeFile(t, sink, fmt.Sprintf(sinkConfig, "sink", "reload", outB, "sinc = \"record\""))
	eventually(t, "the rejection to be logged", func() bool {
		return strings.Contains(r.stderr.String(), "configuration change rejected")
	})
	// A valid change through SIGHUP: the sink drains and restarts writing to b.
	cfgB := fmt.Sprintf(sinkConfig, "sink", "reload", outB, "")
	if err := os.WriteFile(sink, []byte(cfgB), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	eventually(t, "records in the second file", func() bool { return len(seqs(t, outB)) > 0 })
	eventually(t, "every record written", func() bool {
		a, b := seqs(t, outA), seqs(t, outB)
		for i := range n {
			if a[i]+b[i] == 0 {
				return false
			}
		}
		return true
	})
	cancel()
	if res := r.wait(t); res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if os.Getenv("DEBUG_RELOAD") != "" {
		t.Log(r.stderr)
	}
}

// Several connectors in one process are isolated: one failing at start
// does not stop the others; the exit code reports it afterwards.
func TestMultiConnectorIsolation(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	gen, good, bad := filepath.Join(dir, "gen.toml"), filepath.Join(dir, "good.toml"), filepath.Join(dir, "bad.toml")
	out := filepath.Join(dir, "good.jsonl")
	writeFile(t, gen, fmt.Sprintf(genConfig, "multi", 300, 0, filepath.Join(dir, "offsets")))
	writeFile(t, good, fmt.Sprintf(sinkConfig, "good", "multi", out, "max_records = 300"))
	blocker := filepath.Join(dir, "blocker")
	writeFile(t, blocker, "a file, not a directory")
	writeFile(t, bad, fmt.Sprintf(sinkConfig, "bad", "multi", filepath.Join(blocker, "x.jsonl"), ""))
	r := runCLI(t, t.Context(), []string{"DANUBE_SERVICE_URL=" + b.URL()}, "run", "--http-addr", "off", "-c", gen, "-c", good, "-c", bad)
	if r.code != exitUsage {
		t.Fatalf("exit %d, want 2 (the bad sink's configuration error); stderr:\n%s", r.code, r.stderr)
	}
	got := seqs(t, out)
	if len(got) != 300 {
		t.Fatalf("the good sink wrote %d distinct records, want 300; stderr:\n%s", len(got), r.stderr)
	}
	if !strings.Contains(r.stderr.String(), "bad (") {
		t.Errorf("the failure does not name the connector:\n%s", r.stderr)
	}
}

func TestProduceConsume(t *testing.T) {
	b := startBroker(t)
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	createTopic(t, b.URL(), "/default/cli") // subscribing needs an existing topic
	c := startCLI(t, t.Context(), env, nil, "consume", "-t", "/default/cli", "-m", "sub1", "-n", "me", "--count", "5", "--output", "json")
	c.awaitStarted(t)
	p := runCLI(t, t.Context(), env, "produce", "-t", "/default/cli", "-m", `{"n":{i}}`, "-c", "5", "-a", "k:v,k2:v2", "--key", "kk", "--reliable", "-n", "cli-prod")
	if p.code != 0 {
		t.Fatalf("produce exit %d: %s", p.code, p.stderr)
	}
	res := c.wait(t)
	if res.code != 0 {
		t.Fatalf("consume exit %d: %s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("consumed %d lines:\n%s", len(lines), res.stdout)
	}
	for i, line := range lines {
		var l file.Line
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if string(l.Payload) != `{"n":`+strconv.Itoa(i)+`}` || l.Key != "kk" || l.Attributes["k2"] != "v2" || l.Topic != "/default/cli" || l.Offset != uint64(i) {
			t.Fatalf("line %d: %s", i, line)
		}
	}
}

// With --create-topic=false consume waits for a producer to create the topic.
func TestConsumeWaitsForTopic(t *testing.T) {
	b := startBroker(t)
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	c := startCLI(t, t.Context(), env, nil, "consume", "-t", "/default/later", "-m", "sub1", "--count", "1", "--create-topic=false")
	eventually(t, "the waiting notice", func() bool { return strings.Contains(c.stderr.String(), "does not exist yet") })
	select {
	case <-c.done:
		t.Fatalf("consume ended (code %d) on a missing topic: %s", c.code, c.stderr)
	default:
	}
	createTopic(t, b.URL(), "/default/later")
	c.awaitStarted(t) // subscribed once the topic exists
	p := runCLI(t, t.Context(), env, "produce", "-t", "/default/later", "-m", "hello", "--reliable")
	if p.code != 0 {
		t.Fatalf("produce exit %d: %s", p.code, p.stderr)
	}
	res := c.wait(t)
	if res.code != 0 || strings.TrimSpace(res.stdout.String()) == "" || !strings.Contains(res.stdout.String(), "hello") {
		t.Fatalf("consume exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

func TestDLQInspectAndRedrive(t *testing.T) {
	b := startBroker(t)
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	ctx := t.Context()
	cl, err := danube.NewClient(ctx, b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopic(t, b.URL(), "/default/orders")
	createTopic(t, b.URL(), "/default/orders-dlq")
	target, err := cl.NewConsumer(ctx, "/default/orders", "check")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	// Subscriptions start at the latest message: create both first.
	for _, sub := range []string{"danube-connect-dlq-inspect", "danube-connect-dlq-redrive"} {
		r := runCLI(t, ctx, env, "dlq", "inspect", "-t", "/default/orders-dlq", "-m", sub, "--idle", "1ms")
		if r.code != 0 {
			t.Fatalf("create subscription %s: %d %s", sub, r.code, r.stderr)
		}
	}
	dlq, err := cl.NewProducer(ctx, "/default/orders-dlq", danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	for i := range 2 {
		err := dlq.Send(ctx, &danube.OutgoingMessage{Payload: []byte("bad " + strconv.Itoa(i)), Key: "k", Attributes: map[string]string{
			"x-original-topic": "/default/orders", "x-failure-reason": "boom", "x-error-class": "invalid_data",
			"x-delivery-attempt": "1", "x-record-id": "src/p/" + strconv.Itoa(i), "app": "a"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, ctx, env, "dlq", "inspect", "-t", "/default/orders-dlq", "--count", "2")
	if r.code != 0 || strings.Count(r.stdout.String(), "reason:       boom") != 2 || !strings.Contains(r.stdout.String(), "class:        invalid_data") {
		t.Fatalf("inspect %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, ctx, env, "dlq", "redrive", "-t", "/default/orders-dlq", "--count", "2")
	if r.code != 0 || !strings.Contains(r.stderr.String(), "redrove 2 record(s)") {
		t.Fatalf("redrive %d:\n%s", r.code, r.stderr)
	}
	for i := range 2 {
		rctx, cancel := context.WithTimeout(ctx, testTimeout)
		m, err := target.Receive(rctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Payload) != "bad "+strconv.Itoa(i) || m.Key != "k" || m.Attributes["app"] != "a" ||
			m.Attributes["x-record-id"] == "" || m.Attributes["x-failure-reason"] != "" || m.Attributes["x-redrive-count"] != "1" {
			t.Fatalf("redriven message %d: %+v", i, m)
		}
		_ = target.Ack(ctx, m)
	}
}

// createTopic creates a reliable topic by opening a producer on it.
func createTopic(t *testing.T, url, topic string) {
	t.Helper()
	cl, err := danube.NewClient(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p, err := cl.NewProducer(t.Context(), topic, danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

func TestOffsetsShowReset(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, t.Context(), nil, "offsets", "reset", "--dir", dir, "--connector", "gen", "--to", "sequence=41")
	if r.code != 0 {
		t.Fatalf("reset --to: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, t.Context(), nil, "offsets", "show", "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout.String(), `"sequence": "41"`) {
		t.Fatalf("show: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, t.Context(), nil, "offsets", "reset", "--dir", dir, "--connector", "gen")
	if r.code != 0 {
		t.Fatalf("reset: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, t.Context(), nil, "offsets", "show", "--dir", dir)
	if strings.Contains(r.stdout.String(), "sequence") {
		t.Fatalf("offsets remain after reset: %s", r.stdout)
	}
	if r := runCLI(t, t.Context(), nil, "offsets", "reset", "--dir", dir); r.code != exitUsage {
		t.Fatalf("reset without a connector: %d", r.code)
	}
}

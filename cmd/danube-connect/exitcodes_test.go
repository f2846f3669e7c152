package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/testchild"
)

// failWriter fails every write (a closed pipe as standard output).
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("write: broken pipe") }

// runWithStdout runs a command line in-process with stdout as its
// standard output.
func runWithStdout(t *testing.T, env []string, stdout *failWriter, args ...string) result {
	t.Helper()
	r := result{stdout: &testchild.Buffer{}, stderr: &testchild.Buffer{}}
	c := &cli{stdin: strings.NewReader(""), stdout: r.stdout, stderr: r.stderr, env: env}
	if stdout != nil {
		c.stdout = stdout
	}
	done := make(chan struct{})
	go func() { defer close(done); r.code = execute(t.Context(), args, c) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("%v did not finish; stderr:\n%s", args, r.stderr)
	}
	return r
}

// closedURL returns the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// Every command's exit code for success, runtime failure and usage or
// configuration error: 0, 1 and 2. Nothing prints "Error:" with exit 0,
// and an interrupt is a clean exit 0.
func TestExitCodes(t *testing.T) {
	b := startBroker(t)
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	dir := t.TempDir()
	t.Chdir(dir)
	gen := filepath.Join(dir, "gen.toml")
	writeFile(t, gen, fmt.Sprintf(genConfig, "exit-gen", 5, 0, filepath.Join(dir, "offsets")))
	sink := filepath.Join(dir, "sink.toml")
	writeFile(t, sink, fmt.Sprintf(sinkConfig, "exit-sink", "exit-gen", filepath.Join(dir, "out.jsonl"), "max_records = 5"))
	// A reliable generator on a topic that exists without reliable dispatch:
	// the broker refuses its producer (a runtime failure).
	badGen := filepath.Join(dir, "bad-gen.toml")
	writeFile(t, badGen, fmt.Sprintf(genConfig, "exit-nonreliable", 5, 0, filepath.Join(dir, "offsets-bad")))
	if r := runCLI(t, t.Context(), env, "produce", "-t", "/default/exit-nonreliable", "-m", "x", "--reliable=false"); r.code != 0 {
		t.Fatalf("produce: %d %s", r.code, r.stderr)
	}
	writeFile(t, filepath.Join(dir, "offsets", "corrupt.offsets.json"), "{not json")
	writeFile(t, filepath.Join(dir, "afile"), "x")
	invalid := filepath.Join(dir, "invalid.toml")
	writeFile(t, invalid, "connector_name = \"x\"\nconnector = \"generator\"\n[generator]\nrate = \"fast\"\n")

	// A dead-letter topic with one record whose original topic no producer
	// can be created on.
	cl, err := danube.NewClient(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopic(t, b.URL(), "/default/exit-dlq")
	for _, sub := range []string{"danube-connect-dlq-inspect", "danube-connect-dlq-redrive"} {
		if r := runCLI(t, t.Context(), env, "dlq", "inspect", "-t", "/default/exit-dlq", "-m", sub); r.code != 0 {
			t.Fatalf("subscribe %s: %d %s", sub, r.code, r.stderr)
		}
	}
	p, err := cl.NewProducer(t.Context(), "/default/exit-dlq", danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte("x"), Attributes: map[string]string{"x-original-topic": "/default/bad topic"}}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	// A held exclusive subscription.
	holder, err := cl.NewConsumer(t.Context(), "/default/exit-held", "held", danube.WithConsumerName("holder"), danube.WithSubscriptionType(danube.Exclusive))
	if errors.Is(err, danube.ErrNotFound) {
		createTopic(t, b.URL(), "/default/exit-held")
		holder, err = cl.NewConsumer(t.Context(), "/default/exit-held", "held", danube.WithConsumerName("holder"), danube.WithSubscriptionType(danube.Exclusive))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()

	fail := &failWriter{}
	for _, tc := range []struct {
		name   string
		args   []string
		stdout *failWriter
		code   int
	}{
		{"no command", nil, nil, exitOK},
		{"unknown command", []string{"nosuchcommand"}, nil, exitUsage},
		{"unknown flag", []string{"--bogus"}, nil, exitUsage},

		{"version ok", []string{"version"}, nil, exitOK},
		{"version failure", []string{"version"}, fail, exitFailure},
		{"version usage", []string{"version", "extra"}, nil, exitUsage},

		{"docs ok", []string{"docs", "generator"}, nil, exitOK},
		{"docs failure", []string{"docs"}, fail, exitFailure},
		{"docs usage", []string{"docs", "nosuch"}, nil, exitUsage},

		{"validate ok", []string{"validate", "-c", gen}, nil, exitOK},
		{"validate failure", []string{"validate", "-c", gen, "--print"}, fail, exitFailure},
		{"validate config", []string{"validate", "-c", invalid}, nil, exitUsage},
		{"validate missing file", []string{"validate", "-c", "does-not-exist.toml"}, nil, exitUsage},
		{"validate directory", []string{"validate", "-c", dir}, nil, exitUsage},
		{"validate no file", []string{"validate"}, nil, exitUsage},

		{"run ok", []string{"run", "-c", sink, "-c", gen, "--http-addr", "off"}, nil, exitOK},
		{"run ok again (generator already finished)", []string{"run", "-c", gen, "--http-addr", "off"}, nil, exitOK},
		{"run failure", []string{"run", "-c", badGen, "--http-addr", "off"}, nil, exitFailure},
		{"run config", []string{"run", "-c", invalid}, nil, exitUsage},
		{"run usage", []string{"run"}, nil, exitUsage},

		{"produce ok", []string{"produce", "-t", "/default/exit-p", "-m", "x"}, nil, exitOK},
		{"produce failure", []string{"produce", "-t", "/default/exit-schema", "-m", "x", "--schema-subject", "no-such-subject"}, nil, exitFailure},
		{"produce usage", []string{"produce", "-m", "x"}, nil, exitUsage},
		{"produce bad topic", []string{"produce", "-t", "/default/a b", "-m", "x"}, nil, exitUsage},
		{"produce bad url", []string{"produce", "-s", "localhost:6650", "-t", "/default/x", "-m", "x"}, nil, exitUsage},

		{"consume failure", []string{"consume", "-t", "/default/exit-held", "-m", "held", "--sub-type", "exclusive", "-n", "other", "--reconnect-timeout", "1s"}, nil, exitFailure},
		{"consume usage", []string{"consume", "-t", "x", "-m", "s"}, nil, exitUsage},

		{"dlq inspect ok", []string{"dlq", "inspect", "-t", "/default/exit-empty-dlq"}, nil, exitOK},
		{"dlq inspect failure", []string{"dlq", "inspect", "-t", "/default/exit-dlq"}, fail, exitFailure},
		{"dlq inspect usage", []string{"dlq", "inspect"}, nil, exitUsage},
		{"dlq redrive failure", []string{"dlq", "redrive", "-t", "/default/exit-dlq"}, nil, exitFailure},
		{"dlq redrive ok", []string{"dlq", "redrive", "-t", "/default/exit-empty-dlq"}, nil, exitOK},
		{"dlq redrive usage", []string{"dlq", "redrive", "-t", "/default/exit-dlq", "--max-redrives", "0"}, nil, exitUsage},

		{"offsets show ok", []string{"offsets", "show", "-c", gen}, nil, exitOK},
		{"offsets show failure", []string{"offsets", "show", "--dir", "offsets", "--connector", "corrupt"}, nil, exitFailure},
		{"offsets show missing dir", []string{"offsets", "show", "--dir", filepath.Join(dir, "missing")}, nil, exitUsage},
		{"offsets reset ok", []string{"offsets", "reset", "-c", gen}, nil, exitOK},
		{"offsets reset nothing", []string{"offsets", "reset", "-c", gen}, nil, exitOK},
		{"offsets reset failure", []string{"offsets", "reset", "--dir", "afile", "--connector", "x"}, nil, exitFailure},
		{"offsets reset usage", []string{"offsets", "reset", "--dir", "offsets"}, nil, exitUsage},

		{"token ok", []string{"token", "--secret", "s"}, nil, exitOK},
		{"token failure", []string{"token", "--secret", "s"}, fail, exitFailure},
		{"token usage", []string{"token", "--ttl", "-1h", "--secret", "s"}, nil, exitUsage},

		{"devbroker failure", []string{"devbroker", "--addr", "127.0.0.1:0", "--data-dir", "afile"}, nil, exitFailure},
		{"devbroker usage", []string{"devbroker", "--sync", "sometimes"}, nil, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWithStdout(t, env, tc.stdout, tc.args...)
			if r.code != tc.code {
				t.Fatalf("%v: exit %d, want %d; stderr:\n%s", tc.args, r.code, tc.code, r.stderr)
			}
			if r.code == exitOK && strings.Contains(r.stderr.String(), "Error:") {
				t.Fatalf("%v: exit 0 with an error line:\n%s", tc.args, r.stderr)
			}
			if r.code != exitOK && !strings.Contains(r.stderr.String(), "Error:") {
				t.Fatalf("%v: exit %d without an error line:\n%s", tc.args, r.code, r.stderr)
			}
		})
	}

	// Long-running commands end with an interrupt: exit 0, no error line,
	// also while the broker cannot be reached.
	down := []string{"DANUBE_SERVICE_URL=" + closedURL(t)}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"devbroker interrupted", env, []string{"devbroker", "--addr", "127.0.0.1:0"}},
		{"consume interrupted", env, []string{"consume", "-t", "/default/exit-p", "-m", "s"}},
		{"consume interrupted, broker down", down, []string{"consume", "-t", "/default/exit-p", "-m", "s"}},
		{"produce interrupted, broker down", down, []string{"produce", "-t", "/default/exit-p", "-m", "x"}},
		{"run interrupted, broker down", down, []string{"run", "-c", gen, "--http-addr", "off"}},
		{"dlq redrive interrupted, broker down", down, []string{"dlq", "redrive", "-t", "/default/exit-dlq"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			r := startCLI(t, ctx, tc.env, nil, tc.args...)
			if tc.env[0] == env[0] {
				r.awaitStarted(t)
			} else {
				time.Sleep(300 * time.Millisecond)
			}
			cancel()
			res := r.wait(t)
			if res.code != exitOK || strings.Contains(res.stderr.String(), "Error:") {
				t.Fatalf("%v: exit %d; stderr:\n%s", tc.args, res.code, res.stderr)
			}
		})
	}
	// consume --count: exits 0 once the messages arrived.
	r := startCLI(t, t.Context(), env, nil, "consume", "-t", "/default/exit-c", "-m", "s", "--count", "1")
	r.awaitStarted(t)
	if p := runCLI(t, t.Context(), env, "produce", "-t", "/default/exit-c", "-m", "x"); p.code != 0 {
		t.Fatalf("produce: %d %s", p.code, p.stderr)
	}
	if res := r.wait(t); res.code != exitOK || strings.Contains(res.stderr.String(), "Error:") {
		t.Fatalf("consume --count 1: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.jsonl")); err != nil {
		t.Fatalf("run ok wrote nothing: %v", err)
	}
}

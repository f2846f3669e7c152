package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyQuickstart copies the quickstart files into a temporary working
// directory and changes into it.
func copyQuickstart(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"generator.toml", "file-sink.toml"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/quickstart", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "examples/quickstart", f), string(data))
	}
	t.Chdir(dir)
}

// The quickstart README's "Next steps" work as written: --set of a
// connector's key on the two-file quickstart (it applies to the generator
// file only), its environment form, validate --print and docs.
func TestQuickstartSuggestions(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/quickstart/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	copyQuickstart(t)
	for _, s := range []string{"`--set generator.rate=2000`", "`DANUBE_CONNECT__GENERATOR__RATE=2000`",
		"`danube-connect validate -c examples/quickstart/generator.toml --print`", "`danube-connect docs`"} {
		if !strings.Contains(string(readme), s) {
			t.Fatalf("the quickstart README no longer suggests %s; update this test", s)
		}
	}
	files := []string{"-c", "examples/quickstart/generator.toml", "-c", "examples/quickstart/file-sink.toml"}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"set", nil, append([]string{"run", "--devbroker", "--set", "generator.rate=2000"}, files...)},
		{"env", []string{"DANUBE_CONNECT__GENERATOR__RATE=2000"}, append([]string{"run", "--devbroker"}, files...)},
		{"scoped", nil, append([]string{"run", "--devbroker", "--set", "quickstart-sink:processing.batch_size=10"}, files...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll("out")
			r := runCLI(t, t.Context(), tc.env, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			if got := seqs(t, "out/quickstart/records.jsonl"); len(got) != 1000 {
				t.Fatalf("%d distinct records written, want 1000", len(got))
			}
		})
	}
	r := runCLI(t, t.Context(), nil, "validate", "-c", "examples/quickstart/generator.toml", "--print", "--set", "generator.rate=2000")
	if r.code != 0 || !strings.Contains(r.stdout.String(), "rate = 2000") {
		t.Fatalf("validate --print: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, t.Context(), nil, "docs"); r.code != 0 || !strings.Contains(r.stdout.String(), "# Configuration reference") {
		t.Fatalf("docs: %d %s", r.code, r.stderr)
	}
	// A --set that matches no file is a configuration error.
	for _, set := range []string{"file.nosuch.x=1", "nobody:retry.max_retries=1"} {
		r := runCLI(t, t.Context(), nil, "validate", "--set", set, "-c", "examples/quickstart/generator.toml")
		if r.code != exitUsage || !strings.Contains(r.stderr.String(), "(--set "+set+")") {
			t.Errorf("--set %s: exit %d\n%s", set, r.code, r.stderr)
		}
	}
}

// The README's walkthrough: a consumer started first on a topic that does
// not exist yet sees every message produced afterwards, the first one too
// (with and without --reliable on produce).
func TestReadmeWalkthrough(t *testing.T) {
	b := startBroker(t)
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	for i, produceArgs := range [][]string{{"--reliable"}, nil} {
		topic := "/default/hello-" + string(rune('a'+i))
		cons := startCLI(t, t.Context(), env, nil, "consume", "-t", topic, "-m", "me", "--count", "3")
		cons.awaitStarted(t)
		p := runCLI(t, t.Context(), env, append([]string{"produce", "-t", topic, "-m", "hello {i}", "-c", "3"}, produceArgs...)...)
		if p.code != 0 {
			t.Fatalf("produce %v: exit %d\n%s", produceArgs, p.code, p.stderr)
		}
		r := cons.wait(t)
		if r.code != 0 || !strings.Contains(r.stdout.String(), ": hello 0\n") || !strings.Contains(r.stdout.String(), ": hello 2\n") {
			t.Fatalf("consume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
}

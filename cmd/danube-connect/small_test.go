package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// On a terminal the status line is cleared before a log line is written,
// so log lines never start after the status text.
func TestStatusLineClearedBeforeLogLines(t *testing.T) {
	var buf bytes.Buffer
	out := &termOut{w: &buf}
	out.setStatus("gen: 10 in, 10 out")
	if _, err := out.Write([]byte("level=INFO msg=hello\n")); err != nil {
		t.Fatal(err)
	}
	out.setStatus("gen: 20 in, 20 out")
	out.setStatus("")
	want := "\r\033[Kgen: 10 in, 10 out" + "\r\033[K" + "level=INFO msg=hello\n" + "\r\033[Kgen: 20 in, 20 out" + "\r\033[K"
	if buf.String() != want {
		t.Fatalf("terminal output %q, want %q", buf.String(), want)
	}
	// Without a status line shown, log lines pass through untouched.
	buf.Reset()
	_, _ = out.Write([]byte("x\n"))
	if buf.String() != "x\n" {
		t.Fatalf("%q", buf.String())
	}
}

// offsets reset and show report what they did, exactly.
func TestOffsetsReporting(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	r := runCLI(t, t.Context(), nil, "offsets", "reset", "--dir", "offs", "--connector", "gen")
	if r.code != 0 || !strings.Contains(r.stderr.String(), "gen has no committed offsets") || strings.Contains(r.stderr.String(), "removed") {
		t.Fatalf("reset without offsets: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, t.Context(), nil, "offsets", "reset", "--dir", "offs", "--connector", "gen", "--to", "sequence=41", "--to", "a=1")
	if r.code != 0 || !strings.Contains(r.stderr.String(), "offsets of gen set to a=1, sequence=41") || strings.Contains(r.stderr.String(), "map[") {
		t.Fatalf("reset --to: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, t.Context(), nil, "offsets", "show", "--dir", "offs")
	if r.code != 0 || !strings.Contains(r.stdout.String(), `"sequence": "41"`) {
		t.Fatalf("show: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, t.Context(), nil, "offsets", "reset", "--dir", "offs", "--connector", "gen")
	if r.code != 0 || !strings.Contains(r.stderr.String(), "offsets of gen reset: "+filepath.Join("offs", "gen.offsets.json")+" removed") {
		t.Fatalf("reset: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, t.Context(), nil, "offsets", "show", "--dir", "missing")
	if r.code != exitUsage || r.stdout.String() != "" || !strings.Contains(r.stderr.String(), "offsets directory missing does not exist") {
		t.Fatalf("show of a missing directory: %d %q %s", r.code, r.stdout, r.stderr)
	}
}

// make quickstart runs the README's first command.
func TestMakeQuickstart(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(mk), "\nquickstart:\n\t")
	recipe, _, _ := strings.Cut(after, "\n")
	const cmd = "go run ./cmd/danube-connect run --devbroker -c examples/quickstart/generator.toml -c examples/quickstart/file-sink.toml"
	if !ok || strings.Replace(recipe, "$(GO)", "go", 1) != cmd {
		t.Fatalf("Makefile quickstart recipe %q, want %q", recipe, cmd)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil || !strings.Contains(string(readme), cmd) {
		t.Fatalf("the README's quickstart command changed: %v", err)
	}
}

package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestChaosSmall runs the chaos harness at a small scale: real child
// processes (this test binary acting as danube-connect) killed with SIGKILL,
// the sink's file checked by sequence number.
func TestChaosSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes for several seconds")
	}
	r := runCLI(t, t.Context(), cliEnv(), "chaos", "--records", "1500", "--kills", "1", "--broker-kills", "1", "--duration", "4s", "--timeout", "50s")
	out := strings.TrimSpace(r.stdout.String())
	lines := strings.Split(out, "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^lost=0 duplicated=\d+$`).MatchString(last) {
		t.Fatalf("last line %q, want lost=0 duplicated=D; exit %d\nstdout:\n%s\nstderr:\n%s", last, r.code, out, r.stderr)
	}
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	d := regexp.MustCompile(`duplicates (\d+) against an in-flight bound of (\d+)`).FindStringSubmatch(out)
	if d == nil {
		t.Fatalf("no duplicate bound line:\n%s", out)
	}
	if dup, _ := strconv.Atoi(d[1]); dup > mustAtoi(t, d[2]) {
		t.Errorf("%d duplicates exceed the in-flight bound %s", dup, d[2])
	}
	m := regexp.MustCompile(`kills: sink (\d+), source (\d+), broker (\d+)`).FindStringSubmatch(out)
	if m == nil || m[3] != "1" || m[1]+m[2] == "00" {
		t.Errorf("the broker and at least one connector should have been killed:\n%s\nstderr:\n%s", out, r.stderr)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/file"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// poisonSinkConfig is a file sink that dead-letters every payload that is
// not JSON.
const poisonSinkConfig = `connector_name = "poison-sink"
connector = "file"
[[topics]]
topic = "/default/poison"
[processing]
drain_timeout = "5s"
[file]
path = %q
payload_format = "json"
`

// dlqRecords returns the records of a dead-letter topic, end markers left out.
func dlqRecords(b *devbroker.Broker, topic string) []devbroker.Message {
	var out []devbroker.Message
	for _, m := range b.Messages(topic) {
		if _, marker := m.Attributes[attrEndMarker]; !marker {
			out = append(out, m)
		}
	}
	return out
}

// poisonPayload is record i: not JSON; every other one is not even UTF-8.
func poisonPayload(i int) []byte {
	if i%2 == 0 {
		return []byte{0xff, 0xfe, byte(i)}
	}
	return fmt.Appendf(nil, "not json %d", i)
}

// 100 poison records with the sink running: redrive republishes exactly
// 100 and stops although every one fails again and is dead-lettered again
// while it runs; inspect afterwards shows all 200 copies, losslessly; a
// second redrive parks the records already redriven --max-redrives times.
func TestDLQRedriveTerminates(t *testing.T) {
	for _, window := range []int{10, 1000} {
		t.Run(fmt.Sprintf("window%d", window), func(t *testing.T) {
			testDLQRedriveTerminates(t, window)
		})
	}
}

func testDLQRedriveTerminates(t *testing.T, window int) {
	b, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: t.TempDir(), MaxUnackedMessages: window})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sink.toml")
	writeFile(t, cfg, fmt.Sprintf(poisonSinkConfig, filepath.Join(dir, "out.jsonl")))
	createTopic(t, b.URL(), "/default/poison")
	sink := startCLI(t, t.Context(), env, nil, "run", "-c", cfg, "--http-addr", "off")
	sink.awaitStarted(t)

	cl, err := danube.NewClient(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p, err := cl.NewProducer(t.Context(), "/default/poison", danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: poisonPayload(i), Key: fmt.Sprint("k", i)}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	const dlq = "/default/poison-dlq"
	eventually(t, "100 dead-lettered records", func() bool { return len(dlqRecords(b, dlq)) == 100 })

	r := runCLI(t, t.Context(), env, "dlq", "redrive", "-t", dlq)
	if r.code != 0 || !strings.Contains(r.stderr.String(), "redrove 100 record(s), parked 0 (100 read)") {
		t.Fatalf("redrive: exit %d\n%s", r.code, r.stderr)
	}
	eventually(t, "the 100 redriven records dead-lettered again", func() bool { return len(dlqRecords(b, dlq)) == 200 })
	time.Sleep(200 * time.Millisecond) // a looping redrive would have republished more by now
	if n := len(b.Messages("/default/poison")); n != 200 {
		t.Fatalf("%d messages on the original topic, want 100 + 100 redriven", n)
	}

	// Inspect after the fact shows every copy, losslessly.
	r = runCLI(t, t.Context(), env, "dlq", "inspect", "-t", dlq, "--output", "json")
	if r.code != 0 || !strings.Contains(r.stderr.String(), "inspected 200 record(s)") {
		t.Fatalf("inspect: exit %d\n%s", r.code, r.stderr)
	}
	counts := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout.String()))
	for sc.Scan() {
		var l file.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %s: %v", sc.Text(), err)
		}
		var i int
		fmt.Sscanf(l.Key, "k%d", &i)
		var got []byte
		switch l.Encoding {
		case "base64":
			var s string
			_ = json.Unmarshal(l.Payload, &s)
			got, _ = base64.StdEncoding.DecodeString(s)
		case "string":
			var s string
			_ = json.Unmarshal(l.Payload, &s)
			got = []byte(s)
		default:
			t.Fatalf("payload encoding %q", l.Encoding)
		}
		if !bytes.Equal(got, poisonPayload(i)) {
			t.Fatalf("record %d: payload %q (%s), want %q", i, got, l.Encoding, poisonPayload(i))
		}
		if l.Attributes[connect.AttrOriginalTopic] == "" || l.Attributes[connect.AttrFailureReason] == "" {
			t.Fatalf("record %d lacks failure attributes: %v", i, l.Attributes)
		}
		counts[l.Attributes[connect.AttrRedriveCount]]++
	}
	if counts[""] != 100 || counts["1"] != 100 {
		t.Fatalf("redrive counts %v, want 100 never redriven and 100 redriven once", counts)
	}

	// The second run parks what was redriven --max-redrives times already.
	r = runCLI(t, t.Context(), env, "dlq", "redrive", "-t", dlq, "--max-redrives", "1")
	if r.code != 0 || !strings.Contains(r.stderr.String(), "redrove 0 record(s), parked 100 (100 read)") {
		t.Fatalf("second redrive: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, t.Context(), env, "dlq", "inspect", "-t", dlq+"-parked")
	if r.code != 0 || !strings.Contains(r.stderr.String(), "inspected 100 record(s)") || strings.Count(r.stdout.String(), "redriven:     1") != 100 {
		t.Fatalf("inspect parked: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Nothing left: both tools stop at once.
	if r := runCLI(t, t.Context(), env, "dlq", "redrive", "-t", dlq); r.code != 0 || !strings.Contains(r.stderr.String(), "(0 read)") {
		t.Fatalf("third redrive: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, t.Context(), env, "dlq", "inspect", "-t", "/default/never-dead-lettered"); r.code != 0 ||
		!strings.Contains(r.stderr.String(), "does not exist: nothing was dead-lettered to it") {
		t.Fatalf("missing topic: exit %d\n%s", r.code, r.stderr)
	}
}

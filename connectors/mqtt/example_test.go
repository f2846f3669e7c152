package mqtt_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// runDocument loads a configuration file as the command line does and runs
// its source until the test ends; it returns the source and the error
// channel of Run.
func runDocument(t *testing.T, path string, env []string) (*mqtt.Source, <-chan error) {
	t.Helper()
	doc, err := config.LoadDocument(path, connectors.Catalog(), config.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := connectors.Lookup(doc.Core.Connector)
	if !ok || e.Kind != connectors.Source {
		t.Fatalf("connector %q", doc.Core.Connector)
	}
	src, topics, err := e.NewSource(connectors.Env{Core: &doc.Core, Config: doc.Connector})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Core.SourceConfig(topics)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OffsetStore = &connect.MemoryOffsetStore{}
	rt, err := connect.NewSourceRuntime(src, cfg, connect.WithLogger(slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, stopped := make(chan error, 1), make(chan struct{})
	go func() { done <- rt.Run(ctx); close(stopped) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(20 * time.Second):
			t.Error("the source runtime did not stop")
		}
	})
	return src.(*mqtt.Source), done
}

// logical returns the messages of topic, over its partitions.
func logical(b *devbroker.Broker, topic string) []devbroker.Message {
	var out []devbroker.Message
	for _, name := range b.Topics() {
		if l, _ := danube.SplitPartition(name); l == topic {
			out = append(out, b.Messages(name)...)
		}
	}
	return out
}

// TestRustExampleRuns runs examples/mqtt/connector.toml — the Rust
// source-mqtt layout, no connector key — against Mosquitto and a devbroker.
func TestRustExampleRuns(t *testing.T) {
	m := startMosquitto(t, "")
	b := connecttest.StartBroker(t)
	src, _ := runDocument(t, filepath.Join(repoRoot(t), "examples/mqtt/connector.toml"), []string{
		"DANUBE_SERVICE_URL=" + b.URL(),
		"DANUBE_CONNECT__MQTT__BROKER_PORT=" + strconv.Itoa(m.Port),
	})
	waitSubscribed(t, src)
	pub := publisher(t, m.URL())
	publish(t, pub, "sensors", 1, []byte("parent"))
	publish(t, pub, "sensors/dev1/temp", 1, []byte("child"))
	publish(t, pub, "devices/d7/telemetry", 2, []byte("tele"))
	publish(t, pub, "devices/d7/other", 1, []byte("unrouted")) // no route
	waitFor(t, 20*time.Second, "the routed messages", func() bool {
		return len(logical(b, "/default/sensors")) == 2 && len(logical(b, "/default/telemetry")) == 1
	})
	for _, m := range logical(b, "/default/telemetry") {
		if string(m.Payload) != "tele" || m.Key != "devices/d7/telemetry" || m.Attributes[mqtt.AttrQoS] != "2" {
			t.Fatalf("telemetry message %+v", m)
		}
	}
	// partitions = 4 and 2 in the file: the topics were created so.
	for _, want := range []string{"/default/sensors-part-3", "/default/telemetry-part-1"} {
		if !slices.Contains(b.Topics(), want) {
			t.Fatalf("no topic %s in %v", want, b.Topics())
		}
	}
	if n := len(b.Messages("/default/debug")); n != 0 {
		t.Fatalf("debug has %d messages", n)
	}
}

// TestLoginRefused: a wrong password is a Configuration error naming the
// refusal; the right one, read from ${MQTT_PASSWORD}, connects.
func TestLoginRefused(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	if out, err := execOutput("mosquitto_passwd", "-c", "-b", pw, "ingest", "s3cret"); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	m := startMosquitto(t, "password_file "+pw+"\nallow_anonymous false\n")
	b := connecttest.StartBroker(t)
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.toml")
			doc := fmt.Sprintf(`connector_name = "auth"
[mqtt]
urls = ["%s"]
protocol_version = "%s"
username = "ingest"
password = "${MQTT_PASSWORD}"
[[mqtt.routes]]
from = "a/#"
to = "/default/auth"
`, m.URL(), version)
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
			_, done := runDocument(t, path, append(env, "MQTT_PASSWORD=wrong"))
			select {
			case err := <-done:
				if connect.ClassOf(err) != connect.ClassConfiguration || connect.ExitCode(err) != 2 || !strings.Contains(err.Error(), "refused the connection") {
					t.Fatalf("wrong password: %v (class %v)", err, connect.ClassOf(err))
				}
				t.Logf("wrong password: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("a refused login did not stop the connector")
			}
			src, done := runDocument(t, path, append(env, "MQTT_PASSWORD=s3cret"))
			waitSubscribed(t, src)
			select {
			case err := <-done:
				t.Fatalf("stopped: %v", err)
			default:
			}
		})
	}
}

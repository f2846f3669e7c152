package mqtt_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	pahov5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// mosquitto is a private Mosquitto broker on a free 127.0.0.1 port, with a
// persistence directory in t.TempDir(); the test's cleanup stops it.
type mosquitto struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	Port int
	cmd  *exec.Cmd
	done chan struct{}
}

// mosquittoBin returns Mosquitto's path; without one the test skips, or
// fails under CI=true.
func mosquittoBin(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("DANUBE_CONNECT_MOSQUITTO"), "/usr/sbin/mosquitto"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto not found (scripts/install-test-deps installs it)")
	}
	t.Skip("mosquitto not found; run scripts/install-test-deps")
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startMosquitto starts a broker; extra is appended to its listener's
// configuration (e.g. TLS files, password_file).
func startMosquitto(t testing.TB, extra string) *mosquitto {
	t.Helper()
	m := &mosquitto{t: t, bin: mosquittoBin(t), dir: t.TempDir(), Port: freePort(t)}
	conf := fmt.Sprintf(`per_listener_settings false
persistence true
persistence_location %s/
autosave_interval 0
max_queued_messages 0
max_inflight_messages 0
log_dest stderr
log_type error
log_type warning
listener %d 127.0.0.1
`, m.dir, m.Port)
	if os.Getuid() == 0 {
		conf += "user root\n" // keep the rights to the persistence directory
	}
	if !strings.Contains(extra, "password_file") {
		conf += "allow_anonymous true\n"
	}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	if err := os.WriteFile(m.conf, []byte(conf+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.Kill)
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	cmd := exec.Command(m.bin, "-c", m.conf)
	cmd.Stderr = &testWriter{t: m.t, prefix: "mosquitto: "}
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	done := m.done
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			m.t.Fatalf("mosquitto exited at start (config %s)", m.conf)
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto not listening on %s: %v", m.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is "127.0.0.1:PORT".
func (m *mosquitto) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.Port) }

// URL is "tcp://127.0.0.1:PORT".
func (m *mosquitto) URL() string { return "tcp://" + m.Addr() }

// Stop stops the broker gracefully (it saves its sessions).
func (m *mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// Restart stops and starts the broker on the same port and data.
func (m *mosquitto) Restart() {
	m.Stop()
	m.start()
}

// Kill stops the broker at once.
func (m *mosquitto) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

type testWriter struct {
	t      testing.TB
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s%s", w.prefix, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// publisher connects an MQTT 3.1.1 client for publishing.
func publisher(t testing.TB, url string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetMaxReconnectInterval(200 * time.Millisecond)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// publish publishes and waits for the broker's acknowledgement.
func publish(t testing.TB, c paho.Client, topic string, qos byte, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func execOutput(name string, args ...string) ([]byte, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		p = "/usr/bin/" + name
	}
	return exec.Command(p, args...).CombinedOutput()
}

// v5publisher connects an MQTT 5 client for publishing.
func v5publisher(t testing.TB, addr string) *pahov5.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := pahov5.NewClient(pahov5.ClientConfig{Conn: conn})
	if _, err := c.Connect(t.Context(), &pahov5.Connect{ClientID: fmt.Sprintf("pub5-%d", time.Now().UnixNano()), CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&pahov5.Disconnect{}) })
	return c
}

package mqtt_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/gorilla/websocket"
)

// wsBridge serves MQTT over WebSocket (subprotocol "mqtt") on 127.0.0.1 by
// relaying each connection to Mosquitto's TCP listener (this Mosquitto
// build cannot open a WebSocket listener here).
func wsBridge(t testing.TB, target string) string {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: []string{"mqtt"}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		tcp, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer tcp.Close()
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := tcp.Read(buf)
				if err != nil {
					ws.Close()
					return
				}
				if ws.WriteMessage(websocket.BinaryMessage, buf[:n]) != nil {
					return
				}
			}
		}()
		for {
			_, r, err := ws.NextReader()
			if err != nil {
				return
			}
			if _, err := io.Copy(tcp, r); err != nil {
				return
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "ws://" + ln.Addr().String() + "/mqtt"
}

// TestWebSocketURL ingests over ws://.
func TestWebSocketURL(t *testing.T) {
	m := startMosquitto(t, "")
	bridge := wsBridge(t, m.Addr())
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			cfg := newConfig(t, bridge, version, mqtt.Route{From: "ws/#", To: "/default/ws" + version[:1], QoS: 1})
			src := mqtt.New(cfg)
			run := runSource(t, src, cfg)
			waitSubscribed(t, src)
			pub := publisher(t, m.URL())
			for i := range 20 {
				publish(t, pub, "ws/a", 1, fmt.Appendf(nil, "w%02d", i))
			}
			run.Wait(20)
			waitFor(t, 5*time.Second, "acknowledgements", func() bool { return src.Stats().Acked == 20 })
		})
	}
}

// TestBrokerURLFailover: with the first URL down, the next one is used.
func TestBrokerURLFailover(t *testing.T) {
	m := startMosquitto(t, "")
	dead := "tcp://127.0.0.1:" + fmt.Sprint(freePort(t))
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			cfg := newConfig(t, dead, version, mqtt.Route{From: "fo/#", To: "/default/fo", QoS: 1})
			cfg.URLs = append(cfg.URLs, m.URL())
			src := mqtt.New(cfg)
			run := runSource(t, src, cfg)
			waitSubscribed(t, src)
			publish(t, publisher(t, m.URL()), "fo/a", 1, []byte("x"))
			run.Wait(1)
		})
	}
}

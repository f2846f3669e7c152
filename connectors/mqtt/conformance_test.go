package mqtt_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqttFixture is the upstream of one conformance check: a client id and
// MQTT topics of its own on a shared Mosquitto, a publisher, and the
// check's sources (one client id: a restart resumes the session).
type mqttFixture struct {
	m       *mosquitto
	pub     paho.Client
	version string
	check   connecttest.SourceCheck

	mu    sync.Mutex
	src   *mqtt.Source
	acked []int
}

// newMQTTFixture returns the fixture constructor for one protocol
// version. Each fixture has a publisher of its own: the goroutine-leak
// check of StopClean does not count the fixture's goroutines.
func newMQTTFixture(m *mosquitto, version string) func(t testing.TB, check connecttest.SourceCheck) connecttest.SourceFixture {
	return func(t testing.TB, check connecttest.SourceCheck) connecttest.SourceFixture {
		return &mqttFixture{m: m, pub: publisher(t, m.URL()), version: version, check: check}
	}
}

func (f *mqttFixture) NewSource(t testing.TB) connect.Source {
	cfg := newConfig(t, f.m.URL(), f.version, mqtt.Route{From: "conf/" + f.check.Name + "/#", To: f.check.Topic, QoS: 1})
	cfg.ClientID = "conformance-" + f.check.Name
	src := mqtt.New(cfg)
	mqtt.SetOnAck(src, func(_ string, payload []byte) {
		if i, err := strconv.Atoi(strings.TrimPrefix(string(payload), "rec-")); err == nil {
			f.mu.Lock()
			f.acked = append(f.acked, i)
			f.mu.Unlock()
		}
	})
	f.mu.Lock()
	f.src = src
	f.mu.Unlock()
	return src
}

func (f *mqttFixture) Offer(ctx context.Context, from, to int) {
	for {
		f.mu.Lock()
		src := f.src
		f.mu.Unlock()
		if src != nil && src.HealthCheck(ctx) == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	for i := from; i < to && ctx.Err() == nil; i++ {
		w := f.Want(i)
		tok := f.pub.Publish(w.Key, 1, false, w.Payload)
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return
		}
	}
}

func (f *mqttFixture) Want(i int) connecttest.Message {
	return connecttest.Message{Payload: fmt.Appendf(nil, "rec-%03d", i), Key: fmt.Sprintf("conf/%s/k%d", f.check.Name, i%3)}
}

func (f *mqttFixture) Acked() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.acked...)
}

func TestSourceConformance(t *testing.T) {
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			m := startMosquitto(t, "")
			connecttest.SourceConformance(t, newMQTTFixture(m, version), connecttest.WithTopic("/default/mqttconf"))
		})
	}
}

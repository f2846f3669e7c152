package mqtt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/schema"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqttFixture is the upstream of one conformance check: a client id and
// MQTT topics of its own on a shared Mosquitto, a publisher, and the
// check's sources (one client id: a restart resumes the session).
type mqttFixture struct {
	t       testing.TB
	m       *mosquitto
	pub     paho.Client
	version string
	check   connecttest.SourceCheck

	mu           sync.Mutex
	src          *mqtt.Source
	acked        []int
	poisonAcked  chan struct{} // closed when the poison record was acknowledged
	poisonClosed bool
}

// newMQTTFixture returns the fixture constructor for one protocol
// version. Each fixture has a publisher of its own: the goroutine-leak
// check of StopClean does not count the fixture's goroutines.
func newMQTTFixture(m *mosquitto, version string) func(t testing.TB, check connecttest.SourceCheck) connecttest.SourceFixture {
	return func(t testing.TB, check connecttest.SourceCheck) connecttest.SourceFixture {
		return &mqttFixture{t: t, m: m, pub: publisher(t, m.URL()), version: version, check: check, poisonAcked: make(chan struct{})}
	}
}

func (f *mqttFixture) NewSource(t testing.TB) connect.Source {
	cfg := newConfig(t, f.m.URL(), f.version, mqtt.Route{From: "conf/" + f.check.Name + "/#", To: f.check.Topic, QoS: 1})
	cfg.ClientID = "conformance-" + f.check.Name
	src := mqtt.New(cfg)
	mqtt.SetOnAck(src, func(_ string, payload []byte) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if string(payload) == string(poisonPayload) && !f.poisonClosed {
			f.poisonClosed = true
			close(f.poisonAcked)
		}
		var rec struct{ Seq *int }
		if json.Unmarshal(payload, &rec) == nil && rec.Seq != nil {
			f.acked = append(f.acked, *rec.Seq)
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
	return connecttest.Message{Payload: fmt.Appendf(nil, `{"seq":%d}`, i), Key: fmt.Sprintf("conf/%s/k%d", f.check.Name, i%3)}
}

// poisonPayload does not match PoisonSchema.
var poisonPayload = []byte(`{"seq":"poison"}`)

func (f *mqttFixture) PoisonSchema() schema.Spec {
	return schema.Spec{Type: schema.JSONSchema, Definition: []byte(`{"type":"object","required":["seq"],"properties":{"seq":{"type":"integer"}}}`)}
}

// OfferPoison publishes the poison record at QoS 1 and waits until the
// source acknowledged it (PUBACK): a dead-lettered record is safe, and
// the MQTT broker must not redeliver it.
func (f *mqttFixture) OfferPoison(ctx context.Context) ([]byte, map[string]string) {
	topic := fmt.Sprintf("conf/%s/poison", f.check.Name)
	if tok := f.pub.Publish(topic, 1, false, poisonPayload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		f.t.Errorf("publishing the poison record: %v", tok.Error())
	}
	select {
	case <-f.poisonAcked:
	case <-time.After(10 * time.Second):
		f.t.Errorf("the dead-lettered poison record was not acknowledged upstream (no PUBACK)")
	}
	return poisonPayload, map[string]string{mqtt.AttrTopic: topic, mqtt.AttrQoS: "1"}
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

package mqtt_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
	pahov5 "github.com/eclipse/paho.golang/paho"
)

// TestWildcardRoutes: "a/#" takes "a" itself (the parent level) and
// everything below, "+" one level; the first matching route wins.
func TestWildcardRoutes(t *testing.T) {
	m := startMosquitto(t, "")
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			b := connecttest.StartBroker(t)
			cfg := newConfig(t, m.URL(), version,
				mqtt.Route{From: "home/+/temp", To: "/default/temps", QoS: 1},
				mqtt.Route{From: "home/#", To: "/default/home", QoS: 1})
			src := mqtt.New(cfg)
			runSource(t, src, cfg, connecttest.WithBroker(b))
			waitSubscribed(t, src)
			pub := publisher(t, m.URL())
			for _, topic := range []string{"home", "home/kitchen/temp", "home/kitchen", "home/kitchen/temp/x", "homeless", "other/home"} {
				publish(t, pub, topic, 1, []byte(topic))
			}
			waitFor(t, 10*time.Second, "routed messages", func() bool {
				return len(b.Messages("/default/temps")) == 1 && len(b.Messages("/default/home")) == 3
			})
			time.Sleep(200 * time.Millisecond)
			var home []string
			for _, m := range b.Messages("/default/home") {
				home = append(home, string(m.Payload))
			}
			slices.Sort(home) // one key per MQTT topic: no order between them
			if got, want := home, []string{"home", "home/kitchen", "home/kitchen/temp/x"}; !slices.Equal(got, want) {
				t.Fatalf("/default/home %v, want %v", got, want)
			}
			if got := string(b.Messages("/default/temps")[0].Payload); got != "home/kitchen/temp" {
				t.Fatalf("/default/temps %q", got)
			}
			if st := src.Stats(); st.Dropped != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestSharedSubscription: two connectors in one $share group split the
// messages (MQTT 5); together they deliver every one.
func TestSharedSubscription(t *testing.T) {
	m := startMosquitto(t, "")
	b := connecttest.StartBroker(t)
	var srcs []*mqtt.Source
	for i := range 2 {
		cfg := newConfig(t, m.URL(), "5", mqtt.Route{From: "$share/ingest/jobs/#", To: "/default/jobs", QoS: 1})
		cfg.ClientID = fmt.Sprintf("shared-%d", i)
		src := mqtt.New(cfg)
		runSource(t, src, cfg, connecttest.WithBroker(b))
		waitSubscribed(t, src)
		srcs = append(srcs, src)
	}
	pub := publisher(t, m.URL())
	const n = 100
	for i := range n {
		publish(t, pub, fmt.Sprintf("jobs/%d", i%5), 1, fmt.Appendf(nil, "j%03d", i))
	}
	waitFor(t, 20*time.Second, "every job", func() bool { return len(b.Messages("/default/jobs")) >= n })
	_, counts := stored(b, "/default/jobs")
	if len(counts) != n {
		t.Fatalf("%d distinct jobs, want %d", len(counts), n)
	}
	a, c := srcs[0].Stats().Received, srcs[1].Stats().Received
	if a == 0 || c == 0 || a+c != n {
		t.Fatalf("split %d + %d, want both > 0 and a sum of %d", a, c, n)
	}
}

// TestV5Properties: MQTT 5 user properties, content type, correlation data
// and response topic become attributes.
func TestV5Properties(t *testing.T) {
	m := startMosquitto(t, "")
	cfg := newConfig(t, m.URL(), "5", mqtt.Route{From: "props/#", To: "/default/props", QoS: 1})
	src := mqtt.New(cfg)
	run := runSource(t, src, cfg)
	waitSubscribed(t, src)
	c := v5publisher(t, m.Addr())
	_, err := c.Publish(t.Context(), &pahov5.Publish{Topic: "props/x", QoS: 1, Payload: []byte("p"),
		Properties: &pahov5.PublishProperties{ContentType: "application/json", CorrelationData: []byte("req-7"),
			ResponseTopic: "replies/7", User: pahov5.UserProperties{{Key: "site", Value: "berlin"}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Publish(t.Context(), &pahov5.Publish{Topic: "props/y", QoS: 1, Payload: []byte("q"),
		Properties: &pahov5.PublishProperties{CorrelationData: []byte{0xff, 0x00}}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := run.Wait(2)
	if msgs[0].Key != "props/x" {
		msgs[0], msgs[1] = msgs[1], msgs[0]
	}
	a := msgs[0].Attributes
	if a[mqtt.AttrContentType] != "application/json" || a[mqtt.AttrCorrelationData] != "req-7" || a[mqtt.AttrResponseTopic] != "replies/7" || a[mqtt.AttrUserPrefix+"site"] != "berlin" {
		t.Fatalf("attributes %v", a)
	}
	if got := msgs[1].Attributes[mqtt.AttrCorrelationB64]; got != "/wA=" {
		t.Fatalf("binary correlation data %q", got)
	}
}

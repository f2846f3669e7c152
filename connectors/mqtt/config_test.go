package mqtt_test

import (
	"strings"
	"testing"

	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors"
	"github.com/danube-connect/connect/connectors/mqtt"
)

func parseMQTT(t *testing.T, src string) (*mqtt.Config, error) {
	t.Helper()
	doc, err := config.ParseDocument("c.toml", []byte(src), config.TOML, connectors.Catalog(), config.Options{Env: []string{"PW=from-env"}})
	if err != nil {
		return nil, err
	}
	return doc.Connector.(*mqtt.Config), nil
}

// TestRustKeys: the Rust forms load with their meaning: qos names,
// [[mqtt.topic_mappings]], use_tls with the TLS port, ${VAR} secrets.
func TestRustKeys(t *testing.T) {
	cfg, err := parseMQTT(t, `connector_name = "c"
[mqtt]
broker_host = "mqtt.example"
client_id = "c1"
use_tls = true
password = "${PW}"
[[mqtt.topic_mappings]]
mqtt_topic = "sensors/+/zone1"
danube_topic = "/iot/zone1"
qos = "ExactlyOnce"
partitions = 4
[[mqtt.topic_mappings]]
mqtt_topic = "debug/#"
danube_topic = "/iot/debug"
qos = "AtMostOnce"
`)
	if err != nil {
		t.Fatal(err)
	}
	urls, err := cfg.BrokerURLs()
	if err != nil || len(urls) != 1 || urls[0].String() != "ssl://mqtt.example:8883" {
		t.Fatalf("urls %v %v", urls, err)
	}
	if cfg.Password != "from-env" {
		t.Fatalf("password %q", cfg.Password)
	}
	topics := cfg.Topics()
	if len(topics) != 2 || topics[0].Topic != "/iot/zone1" || topics[0].Partitions != 4 || topics[0].NonReliable || !topics[1].NonReliable {
		t.Fatalf("topics %+v", topics)
	}
	if r := cfg.AllRoutes(); r[0].QoS != 2 || r[1].QoS != 0 {
		t.Fatalf("routes %+v", r)
	}
}

// TestConfigErrors: bad filters, topics, URLs and combinations are
// reported with their keys.
func TestConfigErrors(t *testing.T) {
	_, err := parseMQTT(t, `connector_name = "c"
connector = "mqtt"
[mqtt]
urls = ["http://x"]
tls_cert_file = "c.pem"
[[mqtt.routes]]
from = "a/#/b"
to = "nope"
qos = 3
[[mqtt.routes]]
from = "$share/g/a"
to = "/default/a"
`)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`mqtt.routes[0].qos: want 0, 1, 2`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = parseMQTT(t, `connector_name = "c"
connector = "mqtt"
[mqtt]
urls = ["http://x"]
tls_cert_file = "c.pem"
[[mqtt.routes]]
from = "a/#/b"
to = "nope"
[[mqtt.routes]]
from = "$share/g/a"
to = "/default/a"
`)
	for _, want := range []string{
		`mqtt.urls[0]: scheme "http"`,
		`mqtt.tls_key_file: tls_cert_file and tls_key_file go together`,
		`mqtt.routes[0].from: "a/#/b": '#' must be the whole last level`,
		`mqtt.routes[0].to: "nope": want /namespace/name`,
		`mqtt.routes[1].from: "$share/g/a": shared subscriptions ($share/) need protocol_version = "5"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = parseMQTT(t, "connector_name = \"c\"\n[mqtt]\nbroker_host = \"h\"\n")
	if err == nil || !strings.Contains(err.Error(), "mqtt.routes: required") {
		t.Errorf("no routes: %v", err)
	}
}

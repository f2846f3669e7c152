package mqtt_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors/generator"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkIngest compares, on one devbroker in one run, QoS 1 messages of
// 256 bytes from a local publisher through Mosquitto into Danube with the
// generator source publishing records of the same size (the baseline).
// Default settings; b.N messages per run, timed until all are stored.
func BenchmarkIngest(b *testing.B) {
	m := startMosquitto(b, "")
	broker := connecttest.StartBroker(b)
	payload := bytes.Repeat([]byte("x"), 256)

	b.Run("generator", func(b *testing.B) {
		var cfg generator.Config
		_ = config.ApplyDefaults(&cfg)
		cfg.Topic, cfg.PayloadSize, cfg.Count = fmt.Sprintf("/default/bgen%d", b.N), 256, int64(b.N)
		src := generator.New(cfg)
		b.ReportAllocs()
		b.ResetTimer()
		run := connecttest.RunSource(b, src, connecttest.WithBroker(broker), connecttest.WithTopic(cfg.Topic), connecttest.WithTimeout(5*time.Minute))
		select {
		case <-src.Done(): // every record confirmed and committed
		case <-time.After(5 * time.Minute):
			b.Fatal("generator did not finish")
		}
		b.StopTimer()
		run.Wait(b.N)
	})

	b.Run("mqtt_qos1", func(b *testing.B) {
		topic := fmt.Sprintf("/default/bmqtt%d", b.N)
		cfg := newConfig(b, m.URL(), "3.1.1", mqtt.Route{From: "bench/#", To: topic, QoS: 1})
		cfg.ClientID = fmt.Sprintf("bench-%d", b.N)
		src := mqtt.New(cfg)
		run := connecttest.RunSource(b, src, connecttest.WithBroker(broker), connecttest.WithTimeout(5*time.Minute),
			connecttest.WithSourceConfig(func(c *connect.SourceConfig) { c.Topics = cfg.Topics() }))
		waitSubscribed(b, src)
		pub := publisher(b, m.URL())
		b.ReportAllocs()
		b.ResetTimer()
		toks := make([]paho.Token, 0, 256)
		for i := range b.N {
			toks = append(toks, pub.Publish(fmt.Sprintf("bench/%d", i%8), 1, false, payload))
			if len(toks) == cap(toks) {
				for _, t := range toks {
					t.Wait()
				}
				toks = toks[:0]
			}
		}
		for src.Stats().Acked < uint64(b.N) { // acked once Danube confirmed
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		run.Wait(b.N)
	})
}

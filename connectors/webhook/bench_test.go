package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors/generator"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/devbroker"
)

// benchClients is the number of concurrent HTTP clients.
const benchClients = 32

// BenchmarkWebhook measures records/s through the webhook (1 KB JSON
// bodies, one per request or 100 per NDJSON request, 32 keep-alive
// clients) against the source runtime with the generator (1 KB records) on
// the same devbroker in the same run; compare the records/s figures.
func BenchmarkWebhook(b *testing.B) {
	br := connecttest.StartBroker(b)
	doc := `{"data":"` + strings.Repeat("x", 1024-11) + `"}`
	b.Run("generator", func(b *testing.B) {
		var cfg generator.Config
		_ = config.ApplyDefaults(&cfg)
		cfg.Topic, cfg.Count, cfg.PayloadSize = "", int64(b.N), 1024
		g := generator.New(cfg)
		b.ReportAllocs()
		connecttest.RunSource(b, g, connecttest.WithBroker(br), connecttest.WithTopic("/default/bench-generator"))
		b.ResetTimer()
		<-g.Done()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("single", func(b *testing.B) {
		benchWebhook(b, br, "/default/bench-single", "application/json", []byte(doc), 1)
	})
	b.Run("ndjson100", func(b *testing.B) {
		body := strings.Repeat(doc+"\n", 100)
		benchWebhook(b, br, "/default/bench-ndjson", "application/x-ndjson", []byte(body), 100)
	})
}

func benchWebhook(b *testing.B, br *devbroker.Broker, topic, ctype string, body []byte, perRequest int) {
	cfg := testConfig(b, newRoute("/bench", topic, nil))
	cfg.MaxBodyBytes = 1 << 20
	src, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	connecttest.RunSource(b, src, connecttest.WithBroker(br), connecttest.WithTopic(topic),
		connecttest.WithSourceConfig(func(c *connect.SourceConfig) { c.Name = "bench" }))
	for src.Addr() == "" {
		time.Sleep(time.Millisecond)
	}
	url := "http://" + src.Addr() + "/bench"
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxIdleConns: benchClients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	waitServing(b, hc, "http://"+src.Addr()+readyPath)
	var next atomic.Int64
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				resp, err := hc.Post(url, ctype, bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(b.N*perRequest)/b.Elapsed().Seconds(), "records/s")
}

func waitServing(b *testing.B, hc *http.Client, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal(fmt.Errorf("webhook not ready"))
}

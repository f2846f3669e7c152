package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/schema"
)

// hookFixture is an upstream of HTTP clients: record i is a request to
// /events keyed k<i%4> with Idempotency-Key i, retried until answered 200.
type hookFixture struct {
	t      testing.TB
	cfg    Config
	addr   string
	client *http.Client

	mu    sync.Mutex
	acked map[int]bool
}

func newHookFixture(t testing.TB, check connecttest.SourceCheck) connecttest.SourceFixture {
	cfg := testConfig(t, newRoute("/events", check.Topic, func(r *Route) { r.KeyHeader = "X-Key" }))
	cfg.Listen = freePort(t)
	return &hookFixture{t: t, cfg: cfg, addr: cfg.Listen, acked: map[int]bool{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

func (f *hookFixture) NewSource(t testing.TB) connect.Source {
	s, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Offer posts the records from one goroutine per key, each request after
// the previous one of its key was answered 200.
func (f *hookFixture) Offer(ctx context.Context, from, to int) {
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Go(func() {
			for i := from; i < to; i++ {
				if i%4 != k {
					continue
				}
				m := f.Want(i)
				if f.send(ctx, m.Payload, strconv.Itoa(i), "X-Key", m.Key) != http.StatusOK {
					return
				}
				f.mu.Lock()
				f.acked[i] = true
				f.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// send posts body until it is answered 200 or 422 (stored, or refused
// and dead-lettered: final either way) and returns that status; 0 when
// ctx ended first.
func (f *hookFixture) send(ctx context.Context, body []byte, idem string, headers ...string) int {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.addr+"/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", idem)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := f.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnprocessableEntity {
				return resp.StatusCode
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 0
}

func (f *hookFixture) Want(i int) connecttest.Message {
	key := "k" + strconv.Itoa(i%4)
	return connecttest.Message{Payload: fmt.Appendf(nil, `{"seq":%d,"key":%q}`, i, key), Key: key}
}

func (f *hookFixture) Acked() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for i := range f.acked {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func (f *hookFixture) PoisonSchema() schema.Spec {
	return schema.Spec{Type: schema.JSONSchema, Definition: []byte(`{"type":"object","required":["seq"],"properties":{"seq":{"type":"integer"}}}`)}
}

func (f *hookFixture) OfferPoison(ctx context.Context) ([]byte, map[string]string) {
	p := []byte(`{"seq":"not a number"}`)
	if status := f.send(ctx, p, "poison"); status != http.StatusUnprocessableEntity && ctx.Err() == nil {
		f.t.Errorf("the poison record was answered %d, want 422", status)
	}
	return p, map[string]string{AttrMethod: "POST", AttrPath: "/events"}
}

func TestSourceConformance(t *testing.T) {
	connecttest.SourceConformance(t, newHookFixture)
}

// With the smallest pipelining a real deployment might use.
func TestSourceConformanceWindow10(t *testing.T) {
	connecttest.SourceConformance(t, newHookFixture, connecttest.WithSourceConfig(func(c *connect.SourceConfig) { c.MaxInFlight = 10 }))
}

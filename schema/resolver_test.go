package schema

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func registerN(t *testing.T, reg *fakeRegistry, n int) []uint64 {
	t.Helper()
	ids := make([]uint64, n)
	for i := range n {
		r, err := reg.Register(context.Background(), fmt.Sprintf("s%d", i), "string", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	return ids
}

func TestResolverDecodeAndCache(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	ids := registerN(t, reg, 5)
	r := newResolver(reg, WithCacheSize(3))

	for range 3 {
		d, err := r.Decode(ctx, ids[0], 1, []byte("hi"))
		if err != nil || d.Value != "hi" || d.Schema.Subject != "s0" || d.Schemaless() {
			t.Fatalf("decode: %+v %v", d, err)
		}
	}
	if st := r.Stats(); st.Hits != 2 || st.Misses != 1 || st.Fetches != 1 || reg.gets.Load() != 1 {
		t.Fatalf("stats after 3 decodes of one schema: %+v, gets %d", st, reg.gets.Load())
	}
	// Fill beyond the bound: the least recently used entries go.
	for _, id := range ids {
		if _, err := r.Decode(ctx, id, 1, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.Stats(); st.Size != 3 || st.Evictions != 2 {
		t.Fatalf("stats after 5 schemas: %+v", st)
	}
	gets := reg.gets.Load()
	if _, err := r.Decode(ctx, ids[4], 1, nil); err != nil || reg.gets.Load() != gets {
		t.Fatalf("recent entry was not cached: %v", err)
	}
	if _, err := r.Decode(ctx, ids[0], 1, nil); err != nil || reg.gets.Load() != gets+1 {
		t.Fatalf("evicted entry was not fetched again: %v", err)
	}
	if st := r.Stats(); st.Size != 3 {
		t.Fatalf("size %d", st.Size)
	}
}

func TestResolverSchemaless(t *testing.T) {
	r := newResolver(nil)
	p := []byte{1, 2, 3}
	d, err := r.Decode(context.Background(), 0, 0, p)
	if err != nil || !d.Schemaless() || &d.Value.([]byte)[0] != &p[0] {
		t.Fatalf("schemaless: %+v %v", d, err)
	}
	var out []byte
	if err := r.DecodeInto(context.Background(), 0, 0, p, &out); err != nil || &out[0] != &p[0] {
		t.Fatal(err)
	}
	if !Passthrough(p).Schemaless() {
		t.Fatal("Passthrough has a schema")
	}
}

func TestResolverLatestTTL(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	reg.compat = nil
	if _, err := reg.Register(ctx, "s", "json_schema", []byte(orderV1)); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	r := newResolver(reg, WithLatestTTL(time.Minute))
	r.now = func() time.Time { return now }

	d, err := r.Decode(ctx, 1, 0, []byte(`{"id":"a"}`))
	if err != nil || d.Schema.Version != 1 {
		t.Fatalf("latest: %v", err)
	}
	if _, err := reg.Register(ctx, "s", "json_schema", []byte(orderV2)); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.Decode(ctx, 1, 0, []byte(`{"id":"a"}`)); d.Schema.Version != 1 {
		t.Fatalf("within the TTL, latest moved to %d", d.Schema.Version)
	}
	now = now.Add(time.Minute)
	if d, _ := r.Decode(ctx, 1, 0, []byte(`{"id":"a"}`)); d.Schema.Version != 2 {
		t.Fatalf("after the TTL, latest is still %d", d.Schema.Version)
	}
	// The concrete versions that "latest" named are cached for good.
	gets := reg.gets.Load()
	now = now.Add(time.Hour)
	for _, v := range []uint32{1, 2} {
		if _, err := r.Decode(ctx, 1, v, []byte(`{"id":"a"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if reg.gets.Load() != gets {
		t.Fatalf("concrete versions fetched again: gets %d → %d", gets, reg.gets.Load())
	}
	// TTL 0: latest is always asked for.
	r0 := newResolver(reg, WithLatestTTL(0))
	gets = reg.gets.Load()
	for range 3 {
		if _, err := r0.Decode(ctx, 1, 0, []byte(`{"id":"a"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if reg.gets.Load() != gets+3 {
		t.Fatalf("TTL 0: %d lookups for 3 decodes", reg.gets.Load()-gets)
	}
}

func TestResolverSingleflight(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	ids := registerN(t, reg, 1)
	reg.getGate = make(chan struct{})
	r := newResolver(reg)

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := r.Decode(ctx, ids[0], 1, []byte("x"))
			errs <- err
		})
	}
	// Wait until every caller missed, then let the one lookup finish.
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Misses < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers missed", r.Stats().Misses, n)
		}
		time.Sleep(time.Millisecond)
	}
	close(reg.getGate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := reg.gets.Load(); got != 1 {
		t.Fatalf("%d concurrent misses made %d registry calls, want 1", n, got)
	}
}

func TestResolverCallerCancel(t *testing.T) {
	reg := newFakeRegistry()
	ids := registerN(t, reg, 1)
	reg.getGate = make(chan struct{})
	r := newResolver(reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Decode(ctx, ids[0], 1, []byte("x"))
		done <- err
	}()
	for r.Stats().Misses < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("cancelled caller: %v", err)
	}
	// The shared lookup goes on and fills the cache for the next caller.
	close(reg.getGate)
	if _, err := r.Decode(context.Background(), ids[0], 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestResolverErrorClasses(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	ids := registerN(t, reg, 2)
	r := newResolver(reg, WithExpectedSubject("s0"))

	if _, err := r.Decode(ctx, ids[0], 1, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	_, err := r.Decode(ctx, ids[1], 1, []byte("ok"))
	if !errors.Is(err, ErrSubjectMismatch) || !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("other subject: %v", err)
	}
	_, err = r.Decode(ctx, 999, 1, []byte("ok"))
	if !errors.Is(err, ErrUnknownSchema) || !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("unknown id: %v", err)
	}
	_, err = r.Decode(ctx, ids[0], 7, []byte("ok"))
	if !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("unknown version: %v", err)
	}
	_, err = r.Decode(ctx, ids[0], 1, []byte{0xff})
	if !errors.Is(err, ErrInvalidPayload) || errors.Is(err, ErrSubjectMismatch) {
		t.Fatalf("bad utf-8: %v", err)
	}
	// Registry trouble is transient: not invalid data.
	down := newFakeRegistry()
	registerN(t, down, 1)
	down.getErr = errors.New("connection refused")
	_, err = newResolver(down).Decode(ctx, 1, 1, []byte("x"))
	if err == nil || errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("registry down: %v", err)
	}
}

func TestDecodeAs(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	res, err := reg.Register(ctx, "orders", "json_schema", []byte(orderSchema))
	if err != nil {
		t.Fatal(err)
	}
	r := newResolver(reg)
	o, err := DecodeAs[order](ctx, r, res.ID, res.Version, []byte(`{"id":"a","qty":3}`))
	if err != nil || o.ID != "a" || o.Qty != 3 {
		t.Fatalf("DecodeAs: %+v %v", o, err)
	}
	_, err = DecodeAs[order](ctx, r, res.ID, res.Version, []byte(`{"id":"a","qty":0}`))
	if !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("DecodeAs invalid: %v", err)
	}
}

package danube_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

const (
	orderV1 = `{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`
	orderV2 = `{"type":"object","properties":{"id":{"type":"string"},"note":{"type":"string"}},"required":["id"]}`
	orderV3 = `{"type":"object","properties":{"id":{"type":"string"},"note":{"type":"string"},"qty":{"type":"integer"}},"required":["id"]}`
)

func TestSchemaRegistry(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	reg := c.Schemas()
	ctx := t.Context()

	r1, err := reg.Register(ctx, "orders", danube.SchemaJSON, []byte(orderV1), danube.WithDescription("first"), danube.WithTags("a"))
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID == 0 || r1.Version != 1 || !r1.IsNew || r1.Fingerprint == "" {
		t.Fatalf("register v1: %+v", r1)
	}
	again, err := reg.Register(ctx, "orders", "JSON", []byte(orderV1)) // alias, same definition
	if err != nil || again.Version != 1 || again.IsNew || again.ID != r1.ID {
		t.Fatalf("re-register v1: %+v %v", again, err)
	}
	r2, err := reg.Register(ctx, "orders", danube.SchemaJSON, []byte(orderV2))
	if err != nil || r2.Version != 2 || r2.ID != r1.ID {
		t.Fatalf("register v2: %+v %v", r2, err)
	}

	latest, err := reg.Latest(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Version != 2 || latest.Subject != "orders" || latest.Type != danube.SchemaJSON || string(latest.Definition) != orderV2 {
		t.Fatalf("latest: %+v (definition %s)", latest, latest.Definition)
	}
	v1, err := reg.Get(ctx, r1.ID, 1)
	if err != nil || v1.Version != 1 || string(v1.Definition) != orderV1 || v1.Description != "first" {
		t.Fatalf("get v1: %+v %v", v1, err)
	}
	if _, err := reg.Get(ctx, r1.ID, 99); !errors.Is(err, danube.ErrNotFound) {
		t.Fatalf("get v99: %v, want ErrNotFound", err)
	}
	if _, err := reg.Latest(ctx, "nope"); !errors.Is(err, danube.ErrNotFound) {
		t.Fatalf("latest of unknown subject: %v, want ErrNotFound", err)
	}

	versions, err := reg.Versions(ctx, "orders")
	if err != nil || len(versions) != 2 || versions[0].Version != 1 || versions[1].Version != 2 || versions[0].SchemaID != r1.ID {
		t.Fatalf("versions: %+v %v", versions, err)
	}

	// Removing a required field breaks backward compatibility.
	res, err := reg.CheckCompatibility(ctx, "orders", danube.SchemaJSON, []byte(`{"type":"object","properties":{}}`), "")
	if err != nil || res.Compatible || len(res.Reasons) == 0 {
		t.Fatalf("incompatible check: %+v %v", res, err)
	}
	res, err = reg.CheckCompatibility(ctx, "orders", danube.SchemaJSON, []byte(orderV3), danube.CompatibilityBackward)
	if err != nil || !res.Compatible {
		t.Fatalf("compatible check: %+v %v", res, err)
	}
	if err := reg.SetCompatibilityMode(ctx, "orders", danube.CompatibilityFull); err != nil {
		t.Fatal(err)
	}
	subjects, err := reg.ListSubjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(subjects, func(s danube.SubjectInfo) bool { return s.Subject == "orders" })
	if i < 0 || subjects[i].LatestVersion != 2 || subjects[i].CompatibilityMode != "full" {
		t.Fatalf("subjects: %+v", subjects)
	}
}

func TestSchemaResolve(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	reg := c.Schemas()
	ctx := t.Context()
	for _, def := range []string{orderV1, orderV2, orderV3} {
		if _, err := reg.Register(ctx, "res", danube.SchemaJSON, []byte(def)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		ref     danube.VersionRef
		version uint32
		err     error
	}{
		{"latest", danube.Latest(), 3, nil},
		{"zero value", danube.VersionRef{}, 3, nil},
		{"pinned older", danube.Pinned(1), 1, nil},
		{"pinned latest", danube.Pinned(3), 3, nil},
		{"pinned future", danube.Pinned(4), 0, danube.ErrNotFound},
		{"minimum met", danube.Minimum(2), 3, nil},
		{"minimum unmet", danube.Minimum(5), 0, danube.ErrFailedPrecondition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := reg.Resolve(ctx, danube.SchemaRef{Subject: "res", Version: tc.ref})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || s.Version != tc.version {
				t.Fatalf("resolved %+v, %v; want version %d", s, err, tc.version)
			}
		})
	}
}

func TestProducerWithSchema(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	ctx := t.Context()
	reg := c.Schemas()
	r1, err := reg.Register(ctx, "events", danube.SchemaJSON, []byte(orderV1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, "events", danube.SchemaJSON, []byte(orderV2)); err != nil {
		t.Fatal(err)
	}
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable(), danube.WithSchema(danube.SchemaRef{Subject: "events", Version: danube.Pinned(1)}))
	if p.SchemaID() != r1.ID || p.SchemaVersion() != 1 {
		t.Fatalf("producer schema %d/%d, want %d/1", p.SchemaID(), p.SchemaVersion(), r1.ID)
	}
	cons := newConsumer(t, c, topic, "sub")
	if err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(`{"id":"1"}`)}); err != nil {
		t.Fatal(err)
	}
	m := receive(t, cons, 1, true)[0]
	if m.SchemaID != r1.ID || m.SchemaVersion != 1 {
		t.Fatalf("message schema %d/%d", m.SchemaID, m.SchemaVersion)
	}

	cfg, err := reg.TopicConfig(ctx, topic)
	if err != nil || cfg.Subject != "events" {
		t.Fatalf("topic config %+v %v", cfg, err)
	}
	if err := reg.ConfigureTopic(ctx, topic, "events", danube.ValidationEnforce, false); err != nil {
		t.Fatal(err)
	}
	if err := reg.UpdateTopicPolicy(ctx, topic, danube.ValidationNone, false); err != nil {
		t.Fatal(err)
	}
	cfg, err = reg.TopicConfig(ctx, topic)
	if err != nil || cfg.Policy != danube.ValidationNone {
		t.Fatalf("topic config after update %+v %v", cfg, err)
	}

	if _, err := c.NewProducer(ctx, uniqueTopic(t), danube.WithSchema(danube.SchemaRef{Subject: "missing"})); !errors.Is(err, danube.ErrNotFound) {
		t.Fatalf("unknown subject: %v, want ErrNotFound", err)
	}
}

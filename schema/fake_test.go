package schema

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/danube"
)

// fakeRegistry is an in-memory registry for unit tests. Compatibility is
// decided by compat (nil: always compatible).
type fakeRegistry struct {
	mu       sync.Mutex
	nextID   uint64
	subjects map[string][]*danube.Schema
	compat   func(old, new []byte) []string

	gets, latests, registers atomic.Int64
	getGate                  chan struct{} // when set, Get waits for it
	getErr                   error         // when set, Get fails with it
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{subjects: map[string][]*danube.Schema{}}
}

func notFound(format string, args ...any) error {
	// The danube client classifies gRPC errors; for the fake, a status error
	// wrapped the way the client does is enough for errors.Is.
	return fmt.Errorf("fake: %w: %w", danube.ErrNotFound, status.Error(codes.NotFound, fmt.Sprintf(format, args...)))
}

func (f *fakeRegistry) Register(_ context.Context, subject string, typ danube.SchemaType, def []byte, _ ...danube.RegisterOption) (danube.RegisterResult, error) {
	f.registers.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	vs := f.subjects[subject]
	fp := fingerprint(Type(typ), def)
	for _, s := range vs {
		if s.Fingerprint == fp {
			return danube.RegisterResult{ID: s.ID, Version: s.Version, Fingerprint: fp}, nil
		}
	}
	var id uint64
	if len(vs) == 0 {
		f.nextID++
		id = f.nextID
	} else {
		id = vs[0].ID
		if reasons := f.check(vs[len(vs)-1], typ, def); len(reasons) > 0 {
			return danube.RegisterResult{}, fmt.Errorf("fake: incompatible: %v", reasons)
		}
	}
	s := &danube.Schema{ID: id, Version: uint32(len(vs) + 1), Subject: subject, Type: typ, Definition: append([]byte(nil), def...),
		Fingerprint: fp, CompatibilityMode: "backward", CreatedAt: time.Unix(1, 0)}
	f.subjects[subject] = append(vs, s)
	return danube.RegisterResult{ID: id, Version: s.Version, IsNew: true, Fingerprint: fp}, nil
}

func fingerprint(t Type, def []byte) string {
	switch t {
	case Bytes, String, Number:
		return string(t)
	}
	if c, ok := canonicalJSON(def); ok {
		return string(t) + ":" + string(c)
	}
	return string(t) + ":" + string(def)
}

func (f *fakeRegistry) check(latest *danube.Schema, typ danube.SchemaType, def []byte) []string {
	if latest.Type != typ {
		return []string{fmt.Sprintf("schema type changed from %s to %s", latest.Type, typ)}
	}
	if f.compat == nil {
		return nil
	}
	return f.compat(latest.Definition, def)
}

func (f *fakeRegistry) Latest(_ context.Context, subject string) (*danube.Schema, error) {
	f.latests.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	vs := f.subjects[subject]
	if len(vs) == 0 {
		return nil, notFound("Schema not found for subject: %s", subject)
	}
	return vs[len(vs)-1], nil
}

func (f *fakeRegistry) Get(ctx context.Context, id uint64, version uint32) (*danube.Schema, error) {
	f.gets.Add(1)
	if f.getGate != nil {
		select {
		case <-f.getGate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.getErr != nil {
		return nil, f.getErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, vs := range f.subjects {
		if len(vs) == 0 || vs[0].ID != id {
			continue
		}
		if version == 0 {
			return vs[len(vs)-1], nil
		}
		if int(version) <= len(vs) {
			return vs[version-1], nil
		}
	}
	return nil, notFound("Schema not found for ID: %d", id)
}

func (f *fakeRegistry) CheckCompatibility(_ context.Context, subject string, typ danube.SchemaType, def []byte, _ danube.CompatibilityMode) (danube.CompatibilityResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs := f.subjects[subject]
	if len(vs) == 0 {
		return danube.CompatibilityResult{}, fmt.Errorf("fake: subject %q missing", subject)
	}
	reasons := f.check(vs[len(vs)-1], typ, def)
	return danube.CompatibilityResult{Compatible: len(reasons) == 0, Reasons: reasons}, nil
}

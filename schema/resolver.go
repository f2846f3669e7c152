package schema

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/danube-connect/connect/danube"
)

// Defaults of the Resolver.
const (
	// DefaultCacheSize is the number of (schema id, version) entries a
	// Resolver keeps.
	DefaultCacheSize = 256
	// DefaultLatestTTL is how long a lookup of "latest" (version 0) is
	// trusted before the registry is asked again.
	DefaultLatestTTL = 30 * time.Second
	// DefaultFetchTimeout bounds one registry lookup shared by concurrent
	// callers.
	DefaultFetchTimeout = 30 * time.Second
)

// Decoded is a decoded message payload.
type Decoded struct {
	// Schema is the registry schema of the payload; nil for messages
	// without a schema.
	Schema *danube.Schema
	// Value is the decoded payload: json_schema → the value encoding/json
	// produces into an any (map[string]any, []any, float64, string, bool,
	// nil); avro → the generic Avro value (map[string]any for records, see
	// the package documentation); string → string; number → int64 or
	// float64 per the number format; bytes, protobuf and schemaless
	// messages → the payload []byte itself.
	Value any
}

// Schemaless reports whether the message had no schema: Value is then the
// payload, untouched.
func (d *Decoded) Schemaless() bool { return d.Schema == nil }

// Passthrough returns the Decoded form of a message without schema (schema
// id 0): the payload untouched, no registry involved. Resolver.Decode does
// the same for schema id 0.
func Passthrough(payload []byte) *Decoded { return &Decoded{Value: payload} }

// ResolverOption configures a Resolver.
type ResolverOption func(*Resolver)

// WithCacheSize bounds the cache to n entries (least recently used ones are
// evicted; n < 1 means 1). Default DefaultCacheSize.
func WithCacheSize(n int) ResolverOption {
	return func(r *Resolver) { r.size = max(n, 1) }
}

// WithLatestTTL sets how long a lookup of version 0 ("latest") is cached
// (d ≤ 0: never cached). Default DefaultLatestTTL.
func WithLatestTTL(d time.Duration) ResolverOption {
	return func(r *Resolver) { r.latestTTL = d }
}

// WithExpectedSubject makes Decode fail with ErrSubjectMismatch for
// messages whose schema belongs to another subject.
func WithExpectedSubject(subject string) ResolverOption {
	return func(r *Resolver) { r.subject = subject }
}

// WithNumberFormat sets how number payloads are read (default NumberInt64).
func WithNumberFormat(f NumberFormat) ResolverOption {
	return func(r *Resolver) { r.opts.number = f }
}

// WithValidation turns validation of json_schema payloads against their
// schema on decode on or off (default on). Avro, string and number payloads
// are always checked: decoding them is the check.
func WithValidation(on bool) ResolverOption {
	return func(r *Resolver) { r.opts.validate = on }
}

// WithFetchTimeout bounds one registry lookup (default DefaultFetchTimeout).
// A lookup is shared by the concurrent callers that miss on the same key, so
// it does not end with the context of the caller that started it.
func WithFetchTimeout(d time.Duration) ResolverOption {
	return func(r *Resolver) {
		if d > 0 {
			r.fetchTimeout = d
		}
	}
}

// CacheStats are counters of a Resolver's cache.
type CacheStats struct {
	Hits, Misses, Evictions uint64
	// Fetches counts registry lookups; concurrent misses on one key share one.
	Fetches uint64
	// Size is the number of entries now.
	Size int
}

// Resolver decodes consumed payloads with the schema their message names,
// looking schemas up in the registry through a bounded LRU cache of
// compiled decoders. It is safe for concurrent use.
type Resolver struct {
	reg          registry
	size         int
	latestTTL    time.Duration
	fetchTimeout time.Duration
	subject      string
	opts         serdeOptions
	now          func() time.Time

	group singleflight.Group

	mu    sync.Mutex
	lru   *list.List // of *entry, most recent first
	items map[cacheKey]*list.Element

	hits, misses, evictions, fetches atomic.Uint64
}

type cacheKey struct {
	id      uint64
	version uint32
}

type entry struct {
	key     cacheKey
	schema  *danube.Schema
	serde   serde
	expires time.Time // zero: never (a concrete version does not change)
}

// NewResolver returns a Resolver over reg.
func NewResolver(reg *danube.SchemaRegistry, opts ...ResolverOption) *Resolver {
	if reg == nil {
		return newResolver(nil, opts...)
	}
	return newResolver(reg, opts...)
}

func newResolver(reg registry, opts ...ResolverOption) *Resolver {
	r := &Resolver{
		reg:          reg,
		size:         DefaultCacheSize,
		latestTTL:    DefaultLatestTTL,
		fetchTimeout: DefaultFetchTimeout,
		opts:         serdeOptions{validate: true},
		now:          time.Now,
		lru:          list.New(),
		items:        map[cacheKey]*list.Element{},
	}
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	return r
}

// Decode decodes payload with schema (schemaID, version); version 0 means
// the subject's latest. Schema id 0 (no schema) returns Passthrough(payload)
// without a lookup.
//
// Errors matching ErrInvalidPayload mean the message is bad data (it does
// not match its schema, names an unknown schema — ErrUnknownSchema — or a
// schema of an unexpected subject — ErrSubjectMismatch); other errors
// (registry unreachable, context done) are transient.
func (r *Resolver) Decode(ctx context.Context, schemaID uint64, version uint32, payload []byte) (*Decoded, error) {
	if schemaID == 0 {
		return Passthrough(payload), nil
	}
	e, err := r.lookup(ctx, schemaID, version)
	if err != nil {
		return nil, err
	}
	v, err := e.serde.decode(payload)
	if err != nil {
		return nil, withSchema(err, e.schema)
	}
	return &Decoded{Schema: e.schema, Value: v}, nil
}

// DecodeInto decodes payload into out, a non-nil pointer: json_schema with
// encoding/json, avro with hamba/avro (a struct with avro tags, a map, or
// *any), string into *string or *[]byte, number into any integer or float
// pointer, bytes and protobuf into *[]byte (protobuf also into a
// proto.Message). Schema id 0 stores the payload into *[]byte or *any.
// Errors are classified as for Decode.
func (r *Resolver) DecodeInto(ctx context.Context, schemaID uint64, version uint32, payload []byte, out any) error {
	if schemaID == 0 {
		return bytesSerde{}.decodeInto(payload, out)
	}
	e, err := r.lookup(ctx, schemaID, version)
	if err != nil {
		return err
	}
	if err := e.serde.decodeInto(payload, out); err != nil {
		return withSchema(err, e.schema)
	}
	return nil
}

// DecodeAs decodes payload into a new T (see Resolver.DecodeInto).
func DecodeAs[T any](ctx context.Context, r *Resolver, schemaID uint64, version uint32, payload []byte) (T, error) {
	var v T
	err := r.DecodeInto(ctx, schemaID, version, payload, &v)
	return v, err
}

// Schema returns the registry schema (schemaID, version) through the cache.
func (r *Resolver) Schema(ctx context.Context, schemaID uint64, version uint32) (*danube.Schema, error) {
	e, err := r.lookup(ctx, schemaID, version)
	if err != nil {
		return nil, err
	}
	return e.schema, nil
}

// Stats returns the cache counters.
func (r *Resolver) Stats() CacheStats {
	r.mu.Lock()
	n := r.lru.Len()
	r.mu.Unlock()
	return CacheStats{Hits: r.hits.Load(), Misses: r.misses.Load(), Evictions: r.evictions.Load(), Fetches: r.fetches.Load(), Size: n}
}

func withSchema(err error, s *danube.Schema) error {
	return fmt.Errorf("subject %q version %d: %w", s.Subject, s.Version, err)
}

// lookup returns the cache entry for key, fetching and compiling it on a
// miss; concurrent misses on one key share one fetch.
func (r *Resolver) lookup(ctx context.Context, id uint64, version uint32) (*entry, error) {
	key := cacheKey{id, version}
	if e := r.get(key); e != nil {
		r.hits.Add(1)
		return r.check(e)
	}
	r.misses.Add(1)
	if r.reg == nil {
		return nil, errors.New("schema: resolver has no schema registry")
	}
	ch := r.group.DoChan(strconv.FormatUint(id, 10)+"/"+strconv.FormatUint(uint64(version), 10), func() (any, error) {
		// Another caller may have filled the entry while this one queued.
		if e := r.get(key); e != nil {
			return e, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.fetchTimeout)
		defer cancel()
		return r.fetch(fctx, key)
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("schema: look up schema %d version %d: %w", id, version, ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return r.check(res.Val.(*entry))
	}
}

func (r *Resolver) check(e *entry) (*entry, error) {
	if r.subject != "" && e.schema.Subject != r.subject {
		return nil, &payloadError{typ: Type(e.schema.Type), extra: ErrSubjectMismatch,
			msg: fmt.Sprintf("schema %d version %d belongs to subject %q, the sink expects %q", e.schema.ID, e.schema.Version, e.schema.Subject, r.subject)}
	}
	return e, nil
}

func (r *Resolver) fetch(ctx context.Context, key cacheKey) (*entry, error) {
	r.fetches.Add(1)
	s, err := r.reg.Get(ctx, key.id, key.version)
	if err != nil {
		if errors.Is(err, danube.ErrNotFound) {
			return nil, &payloadError{typ: "", extra: ErrUnknownSchema,
				msg: fmt.Sprintf("schema %d version %d is not in the registry: %v", key.id, key.version, err)}
		}
		return nil, fmt.Errorf("schema: look up schema %d version %d: %w", key.id, key.version, err)
	}
	t, err := fromRegistryType(s.Type)
	if err != nil {
		return nil, &payloadError{typ: Type(s.Type), extra: ErrUnknownSchema, msg: err.Error()}
	}
	// Reuse the compiled version when "latest" resolves to a cached one.
	var sd serde
	if key.version == 0 {
		if e := r.get(cacheKey{key.id, s.Version}); e != nil {
			sd = e.serde
		}
	}
	if sd == nil {
		if sd, err = newSerde(t, s.Definition, r.opts); err != nil {
			// The registry accepted a definition this package cannot use:
			// every message naming it is undecodable here.
			return nil, &payloadError{typ: t, extra: ErrUnknownSchema,
				msg: fmt.Sprintf("schema %d version %d: %v", key.id, s.Version, err)}
		}
	}
	e := &entry{key: key, schema: s, serde: sd}
	if key.version == 0 {
		if r.latestTTL <= 0 {
			// Not cached, but the concrete version it named is.
			r.put(&entry{key: cacheKey{key.id, s.Version}, schema: s, serde: sd})
			return e, nil
		}
		e.expires = r.now().Add(r.latestTTL)
		r.put(&entry{key: cacheKey{key.id, s.Version}, schema: s, serde: sd})
	}
	r.put(e)
	return e, nil
}

// get returns a live entry and marks it most recently used.
func (r *Resolver) get(key cacheKey) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.items[key]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if !e.expires.IsZero() && !r.now().Before(e.expires) {
		r.lru.Remove(el)
		delete(r.items, key)
		return nil
	}
	r.lru.MoveToFront(el)
	return e
}

// put inserts or replaces an entry, evicting the least recently used ones
// beyond the size bound.
func (r *Resolver) put(e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.items[e.key]; ok {
		el.Value = e
		r.lru.MoveToFront(el)
		return
	}
	r.items[e.key] = r.lru.PushFront(e)
	for r.lru.Len() > r.size {
		last := r.lru.Back()
		r.lru.Remove(last)
		delete(r.items, last.Value.(*entry).key)
		r.evictions.Add(1)
	}
}

package schema

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/danube-connect/connect/danube"
)

// registry is the part of *danube.SchemaRegistry this package uses.
type registry interface {
	Register(ctx context.Context, subject string, typ danube.SchemaType, def []byte, opts ...danube.RegisterOption) (danube.RegisterResult, error)
	Latest(ctx context.Context, subject string) (*danube.Schema, error)
	Get(ctx context.Context, id uint64, version uint32) (*danube.Schema, error)
	CheckCompatibility(ctx context.Context, subject string, typ danube.SchemaType, def []byte, mode danube.CompatibilityMode) (danube.CompatibilityResult, error)
}

var _ registry = (*danube.SchemaRegistry)(nil)

// Spec is what a source declares about the schema of one topic.
type Spec struct {
	// Topic is the topic the codec serves (used in messages, and to derive
	// Subject when that is empty).
	Topic string
	// Subject is the registry subject. Empty: derived from Topic
	// ("/default/orders" → "default-orders").
	Subject string
	// Type is the schema type.
	Type Type
	// Definition is the local schema text (Avro JSON, JSON Schema, .proto
	// text); ignored for bytes, string and number. Empty: use whatever the
	// registry holds for Subject.
	Definition []byte
	// Version selects the version messages are tagged with and encoded by.
	Version VersionStrategy
	// AutoRegister registers the subject, or a changed Definition as a new
	// version, at start-up. Without it a missing subject or a differing
	// definition fails NewCodec with ErrNotRegistered.
	AutoRegister bool
	// AvroEncoding is the wire form of avro payloads (default AvroOCF).
	AvroEncoding AvroEncoding
	// NumberFormat is the wire form of number payloads (default NumberInt64).
	NumberFormat NumberFormat
}

// subject returns the subject, derived from the topic if unset.
func (s Spec) subject() string {
	if s.Subject != "" {
		return s.Subject
	}
	return strings.ReplaceAll(strings.Trim(s.Topic, "/"), "/", "-")
}

// Codec encodes the values of one topic for its resolved schema version.
// It is safe for concurrent use.
type Codec struct {
	typ    Type
	schema *danube.Schema
	ref    danube.SchemaRef
	serde  serde
}

// NewCodec prepares the schema of one source topic: it registers or evolves
// the subject as Spec asks, resolves the version strategy and compiles the
// encoder for the resolved version. See the package documentation for the
// exact procedure.
func NewCodec(ctx context.Context, reg *danube.SchemaRegistry, spec Spec) (*Codec, error) {
	if reg == nil {
		return nil, errors.New("schema: NewCodec: nil schema registry")
	}
	return newCodec(ctx, reg, spec)
}

func newCodec(ctx context.Context, reg registry, spec Spec) (*Codec, error) {
	typ, err := ParseType(string(spec.Type))
	if err != nil {
		return nil, err
	}
	subject := spec.subject()
	if subject == "" {
		return nil, errors.New("schema: NewCodec: spec has neither Subject nor Topic")
	}
	primitive := typ == Bytes || typ == String || typ == Number
	def := spec.Definition
	if primitive {
		def = nil
	}
	if len(bytes.TrimSpace(def)) > 0 {
		// Reject a broken local definition before touching the registry.
		if _, err := newSerde(typ, def, serdeOptions{}); err != nil {
			return nil, fmt.Errorf("schema: subject %q: local definition: %w", subject, err)
		}
	}

	latest, err := reg.Latest(ctx, subject)
	switch {
	case errors.Is(err, danube.ErrNotFound):
		if !spec.AutoRegister {
			return nil, fmt.Errorf("%w: subject %q does not exist and auto-register is off", ErrNotRegistered, subject)
		}
		if !primitive && len(def) == 0 {
			return nil, fmt.Errorf("%w: subject %q does not exist and the spec has no %s definition to register", ErrNotRegistered, subject, typ)
		}
		if _, err := reg.Register(ctx, subject, typ.registryType(), def); err != nil {
			return nil, fmt.Errorf("schema: register subject %q: %w", subject, err)
		}
		if latest, err = reg.Latest(ctx, subject); err != nil {
			return nil, fmt.Errorf("schema: latest version of %q: %w", subject, err)
		}
	case err != nil:
		return nil, fmt.Errorf("schema: latest version of %q: %w", subject, err)
	default:
		if (primitive || len(def) > 0) && !sameDefinition(typ, def, latest) {
			if older, err := pinnedOlder(ctx, reg, subject, spec.Version, latest); err != nil {
				return nil, err
			} else if older != nil && sameDefinition(typ, def, older) {
				// Pinned to an older version whose text is the local one:
				// nothing to register.
				break
			}
			if !spec.AutoRegister {
				return nil, fmt.Errorf("%w: the local %s definition differs from version %d of subject %q and auto-register is off",
					ErrNotRegistered, typ, latest.Version, subject)
			}
			if latest, err = evolve(ctx, reg, subject, typ, def, latest); err != nil {
				return nil, err
			}
		}
	}

	resolved, err := resolveVersion(ctx, reg, subject, spec.Version, latest)
	if err != nil {
		return nil, err
	}
	rtyp, err := fromRegistryType(resolved.Type)
	if err != nil || rtyp != typ {
		return nil, fmt.Errorf("%w: subject %q version %d has type %q, the spec says %q", ErrIncompatible, subject, resolved.Version, resolved.Type, typ)
	}
	sd, err := newSerde(typ, resolved.Definition, serdeOptions{avro: spec.AvroEncoding, number: spec.NumberFormat, validate: true})
	if err != nil {
		return nil, fmt.Errorf("schema: subject %q version %d: %w", subject, resolved.Version, err)
	}
	return &Codec{
		typ:    typ,
		schema: resolved,
		ref:    danube.SchemaRef{Subject: subject, Version: danube.Pinned(resolved.Version)},
		serde:  sd,
	}, nil
}

// pinnedOlder returns the pinned version when the strategy pins a version
// below the latest one, else nil.
func pinnedOlder(ctx context.Context, reg registry, subject string, v VersionStrategy, latest *danube.Schema) (*danube.Schema, error) {
	n, pinned := v.Pinned()
	if !pinned || n == 0 || n >= latest.Version {
		return nil, nil
	}
	s, err := reg.Get(ctx, latest.ID, n)
	switch {
	case errors.Is(err, danube.ErrNotFound):
		return nil, nil // resolveVersion reports it
	case err != nil:
		return nil, fmt.Errorf("schema: get version %d of %q: %w", n, subject, err)
	}
	return s, nil
}

// evolve registers def as a new version of subject after the registry found
// it compatible with the latest version, and returns the new latest.
func evolve(ctx context.Context, reg registry, subject string, typ Type, def []byte, latest *danube.Schema) (*danube.Schema, error) {
	res, err := reg.CheckCompatibility(ctx, subject, typ.registryType(), def, "")
	if err != nil {
		return nil, fmt.Errorf("schema: check compatibility with %q: %w", subject, err)
	}
	if !res.Compatible {
		reasons := strings.Join(res.Reasons, "; ")
		if reasons == "" {
			reasons = "no reason given"
		}
		return nil, fmt.Errorf("%w: the local %s definition cannot become a new version of subject %q (latest is version %d, mode %s): %s",
			ErrIncompatible, typ, subject, latest.Version, orDefault(latest.CompatibilityMode, "backward"), reasons)
	}
	if _, err := reg.Register(ctx, subject, typ.registryType(), def); err != nil {
		return nil, fmt.Errorf("schema: register new version of %q: %w", subject, err)
	}
	l, err := reg.Latest(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("schema: latest version of %q: %w", subject, err)
	}
	return l, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// resolveVersion applies the strategy the way both official clients do,
// from the latest version.
func resolveVersion(ctx context.Context, reg registry, subject string, v VersionStrategy, latest *danube.Schema) (*danube.Schema, error) {
	if n, ok := v.Pinned(); ok {
		switch {
		case n == 0:
			return nil, fmt.Errorf("%w: pinned version 0 of %q: versions start at 1", ErrVersionUnavailable, subject)
		case n > latest.Version:
			return nil, fmt.Errorf("%w: pinned version %d of %q is greater than the latest version %d", ErrVersionUnavailable, n, subject, latest.Version)
		case n == latest.Version:
			return latest, nil
		}
		s, err := reg.Get(ctx, latest.ID, n)
		if errors.Is(err, danube.ErrNotFound) {
			return nil, fmt.Errorf("%w: pinned version %d of %q: %w", ErrVersionUnavailable, n, subject, err)
		}
		if err != nil {
			return nil, fmt.Errorf("schema: get version %d of %q: %w", n, subject, err)
		}
		return s, nil
	}
	if n, ok := v.Minimum(); ok && latest.Version < n {
		return nil, fmt.Errorf("%w: latest version %d of %q is below the minimum %d", ErrVersionUnavailable, latest.Version, subject, n)
	}
	return latest, nil
}

// sameDefinition reports whether the local definition is the registered
// one, comparing canonical forms rather than bytes.
func sameDefinition(t Type, def []byte, s *danube.Schema) bool {
	st, err := fromRegistryType(s.Type)
	if err != nil || st != t {
		return false
	}
	switch t {
	case Bytes, String, Number:
		return true
	case JSONSchema, Avro:
		a, ok1 := canonicalJSON(def)
		b, ok2 := canonicalJSON(s.Definition)
		if ok1 && ok2 {
			return bytes.Equal(a, b)
		}
	}
	return bytes.Equal(bytes.TrimSpace(def), bytes.TrimSpace(s.Definition))
}

// Encode turns v into the wire bytes of the codec's type. Errors from
// values that do not fit the schema match ErrInvalidPayload.
//
// Accepted values: bytes: []byte (sent as is, not copied) or string;
// string: string, []byte or fmt.Stringer, valid UTF-8; number: any Go
// integer or float or json.Number that the number format represents
// exactly; json_schema: any value encoding/json marshals, or []byte /
// json.RawMessage JSON text (sent as is once valid); avro: a struct with
// avro tags, or generic data (map[string]any, []any, scalars, or
// json.RawMessage JSON text) as described for the package; protobuf: []byte
// or a proto.Message.
func (c *Codec) Encode(v any) ([]byte, error) { return c.serde.encode(v) }

// Validate checks that payload, published as is, is a valid message of the
// codec's schema version: it decodes it as a sink would (avro in any wire
// form, a json_schema payload validated against the schema, string as
// UTF-8, number as 4 or 8 bytes or a JSON number; bytes and protobuf
// payloads always pass). Failures match ErrInvalidPayload and name the
// subject and version.
func (c *Codec) Validate(payload []byte) error {
	if _, err := c.serde.decode(payload); err != nil {
		if !errors.Is(err, ErrInvalidPayload) {
			err = &payloadError{typ: c.typ, msg: err.Error()}
		}
		return withSchema(err, c.schema)
	}
	return nil
}

// SchemaRef returns the reference for danube.WithSchema: the subject pinned
// to the resolved version.
func (c *Codec) SchemaRef() danube.SchemaRef { return c.ref }

// Schema returns the resolved registry schema.
func (c *Codec) Schema() *danube.Schema { return c.schema }

// ID returns the subject's schema id.
func (c *Codec) ID() uint64 { return c.schema.ID }

// Version returns the resolved version.
func (c *Codec) Version() uint32 { return c.schema.Version }

// Subject returns the subject.
func (c *Codec) Subject() string { return c.schema.Subject }

// Type returns the schema type.
func (c *Codec) Type() Type { return c.typ }

package danube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect/internal/wire/danubepb"
	"github.com/danube-connect/connect/internal/wire/schemapb"
)

// SchemaType is a schema-registry schema type, sent in canonical lower case.
type SchemaType string

// Schema types known to the broker.
const (
	SchemaBytes    SchemaType = "bytes"
	SchemaString   SchemaType = "string"
	SchemaNumber   SchemaType = "number"
	SchemaAvro     SchemaType = "avro"
	SchemaJSON     SchemaType = "json_schema"
	SchemaProtobuf SchemaType = "protobuf"
)

// canonical maps the aliases the broker accepts to the canonical names.
func (t SchemaType) canonical() SchemaType {
	switch s := strings.ToLower(strings.TrimSpace(string(t))); s {
	case "int64", "int", "float", "double":
		return SchemaNumber
	case "json":
		return SchemaJSON
	case "proto":
		return SchemaProtobuf
	default:
		return SchemaType(s)
	}
}

// CompatibilityMode is a subject's schema evolution rule.
type CompatibilityMode string

// Compatibility modes. The broker's default for new subjects is backward.
const (
	CompatibilityNone     CompatibilityMode = "none"
	CompatibilityBackward CompatibilityMode = "backward"
	CompatibilityForward  CompatibilityMode = "forward"
	CompatibilityFull     CompatibilityMode = "full"
)

// ValidationPolicy is how a topic validates messages against its subject.
type ValidationPolicy string

// Validation policies. The broker's default for a topic is warn.
const (
	ValidationNone    ValidationPolicy = "none"
	ValidationWarn    ValidationPolicy = "warn"
	ValidationEnforce ValidationPolicy = "enforce"
)

// VersionRef selects a schema version of a subject. The zero value means the
// latest version. Build one with [Latest], [Pinned] or [Minimum], or parse
// its text form with [ParseVersionRef]; values are comparable with ==.
type VersionRef struct {
	kind    versionKind
	version uint32
}

type versionKind uint8

const (
	versionLatest versionKind = iota
	versionPinned
	versionMinimum
)

// Latest selects the latest version of the subject.
func Latest() VersionRef { return VersionRef{} }

// Pinned selects exactly version v.
func Pinned(v uint32) VersionRef { return VersionRef{kind: versionPinned, version: v} }

// Minimum selects the latest version and requires it to be at least v.
func Minimum(v uint32) VersionRef { return VersionRef{kind: versionMinimum, version: v} }

// ParseVersionRef parses the text form of a version selection,
// case-insensitively: "latest" or "" ([Latest]), "pinned:N", "pin:N" or a
// bare "N" ([Pinned]), "minimum:N" or "min:N" ([Minimum]). N must be at
// least 1. It accepts everything [VersionRef.String] returns.
func ParseVersionRef(s string) (VersionRef, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" || t == "latest" {
		return Latest(), nil
	}
	kind, num := versionPinned, t
	if k, n, ok := strings.Cut(t, ":"); ok {
		switch strings.TrimSpace(k) {
		case "pinned", "pin":
			kind = versionPinned
		case "minimum", "min":
			kind = versionMinimum
		default:
			return VersionRef{}, fmt.Errorf("danube: schema version %q: want latest, pinned:N, N or minimum:N", s)
		}
		num = strings.TrimSpace(n)
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 {
		return VersionRef{}, fmt.Errorf("danube: schema version %q: version must be a number ≥ 1", s)
	}
	return VersionRef{kind: kind, version: uint32(n)}, nil
}

// Pinned returns the pinned version and true if v is [Pinned], or 0 and
// false.
func (v VersionRef) Pinned() (uint32, bool) {
	if v.kind != versionPinned {
		return 0, false
	}
	return v.version, true
}

// Minimum returns the minimum version and true if v is [Minimum], or 0 and
// false.
func (v VersionRef) Minimum() (uint32, bool) {
	if v.kind != versionMinimum {
		return 0, false
	}
	return v.version, true
}

// String returns "latest", "pinned:N" or "minimum:N"; [ParseVersionRef]
// accepts it back.
func (v VersionRef) String() string {
	switch v.kind {
	case versionPinned:
		return "pinned:" + strconv.FormatUint(uint64(v.version), 10)
	case versionMinimum:
		return "minimum:" + strconv.FormatUint(uint64(v.version), 10)
	}
	return "latest"
}

// MarshalText implements encoding.TextMarshaler with [VersionRef.String].
func (v VersionRef) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseVersionRef].
func (v *VersionRef) UnmarshalText(b []byte) error {
	p, err := ParseVersionRef(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// SchemaRef names a subject and a version selection.
type SchemaRef struct {
	Subject string
	Version VersionRef
}

func (r SchemaRef) wire() *danubepb.SchemaReference {
	ref := &danubepb.SchemaReference{Subject: r.Subject}
	switch r.Version.kind {
	case versionPinned:
		ref.VersionRef = &danubepb.SchemaReference_PinnedVersion{PinnedVersion: r.Version.version}
	case versionMinimum:
		ref.VersionRef = &danubepb.SchemaReference_MinVersion{MinVersion: r.Version.version}
	default:
		ref.VersionRef = &danubepb.SchemaReference_UseLatest{UseLatest: true}
	}
	return ref
}

// Schema is one version of a registered schema.
type Schema struct {
	// ID is the subject's id, shared by all its versions.
	ID uint64
	// Version is the 1-based version number.
	Version uint32
	// Subject is the subject name.
	Subject string
	// Type is the canonical schema type.
	Type SchemaType
	// Definition is the schema text as registered (the broker's JSON
	// envelope unwrapped; the raw bytes if there is no envelope; empty for
	// bytes, string and number schemas).
	Definition []byte
	// Description, CreatedBy and Tags are the registration metadata.
	Description string
	CreatedBy   string
	Tags        []string
	// Fingerprint is an opaque identity of the definition.
	Fingerprint string
	// CompatibilityMode is the subject's mode, lower case.
	CompatibilityMode string
	// CreatedAt is the registration time (second precision).
	CreatedAt time.Time
}

// RegisterResult is the answer to [SchemaRegistry.Register].
type RegisterResult struct {
	ID          uint64
	Version     uint32
	IsNew       bool // false if an identical definition already existed
	Fingerprint string
}

// SchemaVersionInfo describes one version of a subject.
type SchemaVersionInfo struct {
	Version     uint32
	SchemaID    uint64
	CreatedAt   time.Time
	CreatedBy   string
	Description string
	Fingerprint string
}

// CompatibilityResult is the answer to [SchemaRegistry.CheckCompatibility].
type CompatibilityResult struct {
	Compatible bool
	Reasons    []string
}

// SubjectInfo summarizes a subject.
type SubjectInfo struct {
	Subject           string
	Type              SchemaType
	LatestVersion     uint32
	CompatibilityMode string
	SchemaID          uint64
	Tags              []string
}

// TopicSchemaConfig is a topic's schema binding.
type TopicSchemaConfig struct {
	Subject           string // "" if none
	Policy            ValidationPolicy
	PayloadValidation bool
	// SchemaID is the subject id as reported by the broker; Danube v0.15.1
	// always reports 0, so do not rely on it.
	SchemaID uint64
}

// RegisterOption sets registration metadata for [SchemaRegistry.Register].
type RegisterOption func(*registerConfig)

type registerConfig struct {
	description, createdBy string
	tags                   []string
}

// WithDescription sets the description of a registered version (default "").
func WithDescription(s string) RegisterOption {
	return func(r *registerConfig) { r.description = s }
}

// WithCreatedBy sets the creator of a registered version (default
// "danube-connect").
func WithCreatedBy(s string) RegisterOption {
	return func(r *registerConfig) { r.createdBy = s }
}

// WithTags sets the tags of a registered version (default none).
func WithTags(tags ...string) RegisterOption {
	return func(r *registerConfig) { r.tags = append([]string(nil), tags...) }
}

// SchemaRegistry is the client of the broker's schema registry, reached
// through the client's service URL. Calls retry transient failures with the
// client's RetryPolicy. It is safe for concurrent use.
type SchemaRegistry struct {
	c *Client
}

func (r *SchemaRegistry) call(ctx context.Context, op string, fn func(schemapb.SchemaRegistryClient) error) error {
	return r.c.retryCall(ctx, r.c.service.key, op, func() error {
		cc, err := r.c.serviceConn()
		if err != nil {
			return err
		}
		return wrapErr(ctx, op, fn(schemapb.NewSchemaRegistryClient(cc)))
	})
}

// Register registers def under subject (creating the subject on first use)
// and returns its id and version; an identical definition returns the
// existing version with IsNew false. The broker reports every failure,
// incompatibility included, as INTERNAL.
func (r *SchemaRegistry) Register(ctx context.Context, subject string, typ SchemaType, def []byte, opts ...RegisterOption) (RegisterResult, error) {
	cfg := registerConfig{createdBy: "danube-connect"}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	req := &schemapb.RegisterSchemaRequest{Subject: subject, SchemaType: string(typ.canonical()), SchemaDefinition: def,
		Description: cfg.description, CreatedBy: cfg.createdBy, Tags: cfg.tags}
	var out RegisterResult
	err := r.call(ctx, fmt.Sprintf("register schema %q", subject), func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.RegisterSchema(ctx, req)
		if err == nil {
			out = RegisterResult{ID: resp.GetSchemaId(), Version: resp.GetVersion(), IsNew: resp.GetIsNewVersion(), Fingerprint: resp.GetFingerprint()}
		}
		return err
	})
	return out, err
}

// Latest returns the latest version of subject (ErrNotFound if unknown).
func (r *SchemaRegistry) Latest(ctx context.Context, subject string) (*Schema, error) {
	var out *Schema
	err := r.call(ctx, fmt.Sprintf("latest schema of %q", subject), func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.GetLatestSchema(ctx, &schemapb.GetLatestSchemaRequest{Subject: subject})
		if err == nil {
			out = schemaFromWire(resp)
		}
		return err
	})
	return out, err
}

// Get returns version of the subject with id id, or its latest version when
// version is 0 (ErrNotFound if unknown).
func (r *SchemaRegistry) Get(ctx context.Context, id uint64, version uint32) (*Schema, error) {
	req := &schemapb.GetSchemaRequest{SchemaId: id}
	if version != 0 {
		req.Version = &version
	}
	var out *Schema
	err := r.call(ctx, fmt.Sprintf("get schema %d version %d", id, version), func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.GetSchema(ctx, req)
		if err == nil {
			out = schemaFromWire(resp)
		}
		return err
	})
	return out, err
}

// Versions lists the versions of subject in ascending order (ErrNotFound if
// the subject is unknown).
func (r *SchemaRegistry) Versions(ctx context.Context, subject string) ([]SchemaVersionInfo, error) {
	var out []SchemaVersionInfo
	err := r.call(ctx, fmt.Sprintf("versions of %q", subject), func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.ListVersions(ctx, &schemapb.ListVersionsRequest{Subject: subject})
		if err != nil {
			return err
		}
		out = make([]SchemaVersionInfo, 0, len(resp.GetVersions()))
		for _, v := range resp.GetVersions() {
			out = append(out, SchemaVersionInfo{
				Version: v.GetVersion(), SchemaID: v.GetSchemaId(), CreatedAt: time.Unix(int64(v.GetCreatedAt()), 0),
				CreatedBy: v.GetCreatedBy(), Description: v.GetDescription(), Fingerprint: v.GetFingerprint(),
			})
		}
		return nil
	})
	return out, err
}

// CheckCompatibility checks def against the latest version of subject under
// mode ("" = the subject's own mode).
func (r *SchemaRegistry) CheckCompatibility(ctx context.Context, subject string, typ SchemaType, def []byte, mode CompatibilityMode) (CompatibilityResult, error) {
	req := &schemapb.CheckCompatibilityRequest{Subject: subject, NewSchemaDefinition: def, SchemaType: string(typ.canonical())}
	if mode != "" {
		m := strings.ToLower(string(mode))
		req.CompatibilityMode = &m
	}
	var out CompatibilityResult
	err := r.call(ctx, fmt.Sprintf("check compatibility with %q", subject), func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.CheckCompatibility(ctx, req)
		if err == nil {
			out = CompatibilityResult{Compatible: resp.GetIsCompatible(), Reasons: resp.GetErrors()}
		}
		return err
	})
	return out, err
}

// SetCompatibilityMode sets the compatibility mode of subject.
func (r *SchemaRegistry) SetCompatibilityMode(ctx context.Context, subject string, mode CompatibilityMode) error {
	op := fmt.Sprintf("set compatibility of %q", subject)
	return r.call(ctx, op, func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.SetCompatibilityMode(ctx, &schemapb.SetCompatibilityModeRequest{Subject: subject, CompatibilityMode: strings.ToLower(string(mode))})
		return answer(op, resp, err)
	})
}

// DeleteVersion deletes one version of subject.
func (r *SchemaRegistry) DeleteVersion(ctx context.Context, subject string, version uint32) error {
	op := fmt.Sprintf("delete version %d of %q", version, subject)
	return r.call(ctx, op, func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.DeleteSchemaVersion(ctx, &schemapb.DeleteSchemaVersionRequest{Subject: subject, Version: version})
		return answer(op, resp, err)
	})
}

// ListSubjects lists every subject, in no particular order.
func (r *SchemaRegistry) ListSubjects(ctx context.Context) ([]SubjectInfo, error) {
	var out []SubjectInfo
	err := r.call(ctx, "list subjects", func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.ListSubjects(ctx, &schemapb.ListSubjectsRequest{})
		if err != nil {
			return err
		}
		out = make([]SubjectInfo, 0, len(resp.GetSubjects()))
		for _, s := range resp.GetSubjects() {
			out = append(out, SubjectInfo{
				Subject: s.GetSubject(), Type: SchemaType(s.GetSchemaType()), LatestVersion: s.GetLatestVersion(),
				CompatibilityMode: s.GetCompatibilityMode(), SchemaID: s.GetSchemaId(), Tags: s.GetTags(),
			})
		}
		return nil
	})
	return out, err
}

// ConfigureTopic binds topic to subject with a validation policy. It must
// reach the broker hosting the topic (ErrNotFound otherwise).
func (r *SchemaRegistry) ConfigureTopic(ctx context.Context, topic, subject string, policy ValidationPolicy, payloadValidation bool) error {
	op := fmt.Sprintf("configure schema of %q", topic)
	return r.call(ctx, op, func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.ConfigureTopicSchema(ctx, &schemapb.ConfigureTopicSchemaRequest{
			TopicName: topic, SchemaSubject: subject, ValidationPolicy: strings.ToLower(string(policy)), EnablePayloadValidation: payloadValidation,
		})
		return answer(op, resp, err)
	})
}

// UpdateTopicPolicy changes the validation policy of a topic that has a
// subject (ErrFailedPrecondition otherwise).
func (r *SchemaRegistry) UpdateTopicPolicy(ctx context.Context, topic string, policy ValidationPolicy, payloadValidation bool) error {
	op := fmt.Sprintf("update validation policy of %q", topic)
	return r.call(ctx, op, func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.UpdateTopicValidationPolicy(ctx, &schemapb.UpdateTopicValidationPolicyRequest{
			TopicName: topic, ValidationPolicy: strings.ToLower(string(policy)), EnablePayloadValidation: payloadValidation,
		})
		return answer(op, resp, err)
	})
}

// TopicConfig returns the schema binding of topic.
func (r *SchemaRegistry) TopicConfig(ctx context.Context, topic string) (TopicSchemaConfig, error) {
	var out TopicSchemaConfig
	err := r.call(ctx, fmt.Sprintf("schema config of %q", topic), func(c schemapb.SchemaRegistryClient) error {
		resp, err := c.GetTopicSchemaConfig(ctx, &schemapb.GetTopicSchemaConfigRequest{TopicName: topic})
		if err == nil {
			out = TopicSchemaConfig{Subject: resp.GetSchemaSubject(), Policy: ValidationPolicy(resp.GetValidationPolicy()),
				PayloadValidation: resp.GetEnablePayloadValidation(), SchemaID: resp.GetSchemaId()}
		}
		return err
	})
	return out, err
}

// Resolve returns the schema version ref selects, client side as the
// official clients do: the latest version is fetched first; Pinned(v) fails
// with ErrNotFound if v is greater than the latest and otherwise fetches
// version v; Minimum(v) fails with ErrFailedPrecondition if the latest is
// below v; Latest returns the latest.
func (r *SchemaRegistry) Resolve(ctx context.Context, ref SchemaRef) (*Schema, error) {
	latest, err := r.Latest(ctx, ref.Subject)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("resolve schema %q %s", ref.Subject, ref.Version)
	switch ref.Version.kind {
	case versionPinned:
		v := ref.Version.version
		switch {
		case v > latest.Version:
			return nil, newError(op, codes.NotFound, fmt.Sprintf("pinned version %d is greater than the latest version %d", v, latest.Version))
		case v == latest.Version:
			return latest, nil
		}
		return r.Get(ctx, latest.ID, v)
	case versionMinimum:
		if latest.Version < ref.Version.version {
			return nil, newError(op, codes.FailedPrecondition, fmt.Sprintf("latest version %d is below the minimum %d", latest.Version, ref.Version.version))
		}
	}
	return latest, nil
}

// answer turns a success/message response into an error when success is
// false with an OK status.
func answer(op string, resp interface {
	GetSuccess() bool
	GetMessage() string
}, err error) error {
	if err != nil {
		return err
	}
	if !resp.GetSuccess() {
		return newError(op, codes.Unknown, resp.GetMessage())
	}
	return nil
}

func schemaFromWire(r *schemapb.GetSchemaResponse) *Schema {
	return &Schema{
		ID:                r.GetSchemaId(),
		Version:           r.GetVersion(),
		Subject:           r.GetSubject(),
		Type:              SchemaType(r.GetSchemaType()).canonical(),
		Definition:        unwrapDefinition(r.GetSchemaDefinition()),
		Description:       r.GetDescription(),
		CreatedBy:         r.GetCreatedBy(),
		Tags:              r.GetTags(),
		Fingerprint:       r.GetFingerprint(),
		CompatibilityMode: r.GetCompatibilityMode(),
		CreatedAt:         time.Unix(int64(r.GetCreatedAt()), 0),
	}
}

// unwrapDefinition extracts the registered schema text from the broker's
// envelope (protocol section 3.12): "Bytes"/"String"/"Number" → empty,
// {"Avro"|"JsonSchema": {"raw_schema": …}} and {"Protobuf": {"raw_proto": …}}
// → the raw text. Anything else is returned unchanged.
func unwrapDefinition(b []byte) []byte {
	trimmed := strings.TrimSpace(string(b))
	if trimmed == "" {
		return b
	}
	switch trimmed[0] {
	case '"':
		var s string
		if json.Unmarshal(b, &s) == nil && (s == "Bytes" || s == "String" || s == "Number") {
			return []byte{}
		}
		return b
	case '{':
	default:
		return b
	}
	var env map[string]json.RawMessage
	if json.Unmarshal(b, &env) != nil || len(env) != 1 {
		return b
	}
	for tag, inner := range env {
		field := "raw_schema"
		switch tag {
		case "Avro", "JsonSchema":
		case "Protobuf":
			field = "raw_proto"
		default:
			return b
		}
		var body map[string]json.RawMessage
		if json.Unmarshal(inner, &body) != nil {
			return b
		}
		var raw string
		if json.Unmarshal(body[field], &raw) != nil {
			return b
		}
		return []byte(raw)
	}
	return b
}

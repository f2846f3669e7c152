package danube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

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

package danube

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/danube-connect/connect/internal/wire/danubepb"
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
	// Subject is the registry subject.
	Subject string
	// Version selects the subject's version (zero value: the latest).
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
	// Description is the description given at registration.
	Description string
	// CreatedBy is the creator given at registration.
	CreatedBy string
	// Tags are the tags given at registration.
	Tags []string
	// Fingerprint is an opaque identity of the definition.
	Fingerprint string
	// CompatibilityMode is the subject's mode, lower case.
	CompatibilityMode string
	// CreatedAt is the registration time (second precision).
	CreatedAt time.Time
}

// RegisterResult is the answer to [SchemaRegistry.Register].
type RegisterResult struct {
	// ID is the subject's id.
	ID uint64
	// Version is the version the definition holds.
	Version uint32
	// IsNew is false if an identical definition already existed.
	IsNew bool
	// Fingerprint is an opaque identity of the definition.
	Fingerprint string
}

// SchemaVersionInfo describes one version of a subject.
type SchemaVersionInfo struct {
	// Version is the 1-based version number.
	Version uint32
	// SchemaID is the subject's id.
	SchemaID uint64
	// CreatedAt is the registration time (second precision).
	CreatedAt time.Time
	// CreatedBy is the creator given at registration.
	CreatedBy string
	// Description is the description given at registration.
	Description string
	// Fingerprint is an opaque identity of the definition.
	Fingerprint string
}

// CompatibilityResult is the answer to [SchemaRegistry.CheckCompatibility].
type CompatibilityResult struct {
	// Compatible tells whether the definition may be registered.
	Compatible bool
	// Reasons are the broker's explanations when it is not.
	Reasons []string
}

// SubjectInfo summarizes a subject.
type SubjectInfo struct {
	// Subject is the subject name.
	Subject string
	// Type is the canonical schema type.
	Type SchemaType
	// LatestVersion is the subject's latest version number.
	LatestVersion uint32
	// CompatibilityMode is the subject's mode, lower case.
	CompatibilityMode string
	// SchemaID is the subject's id.
	SchemaID uint64
	// Tags are the latest version's tags.
	Tags []string
}

// TopicSchemaConfig is a topic's schema binding.
type TopicSchemaConfig struct {
	// Subject is the bound subject ("" if none).
	Subject string
	// Policy is how the broker validates messages against the subject.
	Policy ValidationPolicy
	// PayloadValidation tells whether the broker checks payloads against
	// the schema, not only the schema reference.
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

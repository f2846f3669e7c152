package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/danube-connect/connect/danube"
)

// Type is a schema type in its canonical spelling, as the broker emits it.
type Type string

// Schema types. Their wire forms are described in the package documentation.
const (
	Bytes      Type = "bytes"
	String     Type = "string"
	Number     Type = "number"
	Avro       Type = "avro"
	JSONSchema Type = "json_schema"
	Protobuf   Type = "protobuf"
)

// ParseType parses a schema type name case-insensitively, accepting the
// aliases the broker accepts: int64, int, float, double (number); json
// (json_schema); proto (protobuf). The empty string is an error.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "bytes":
		return Bytes, nil
	case "string":
		return String, nil
	case "number", "int64", "int", "float", "double":
		return Number, nil
	case "avro":
		return Avro, nil
	case "json_schema", "json":
		return JSONSchema, nil
	case "protobuf", "proto":
		return Protobuf, nil
	}
	return "", fmt.Errorf("schema: unknown schema type %q (want bytes, string, number, avro, json_schema or protobuf)", s)
}

// String returns the canonical name.
func (t Type) String() string { return string(t) }

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) { return []byte(t), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseType, so
// configuration files may use the aliases.
func (t *Type) UnmarshalText(b []byte) error {
	p, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// registryType is the type as the danube client names it.
func (t Type) registryType() danube.SchemaType { return danube.SchemaType(t) }

// fromRegistryType maps a registry type (canonical already) to a Type.
func fromRegistryType(t danube.SchemaType) (Type, error) { return ParseType(string(t)) }

// VersionStrategy selects which registered version of a subject a source
// tags its messages with: [danube.Latest] (the zero value), [danube.Pinned]
// or [danube.Minimum]. Its text forms are those of [danube.ParseVersionRef].
type VersionStrategy = danube.VersionRef

// AvroEncoding is the wire form a source uses for avro payloads. Decoding
// detects the form of each payload by itself.
type AvroEncoding uint8

const (
	// AvroOCF (the default) writes each message as an Avro object container
	// file holding one datum. It is the only form the broker accepts when
	// payload validation is on, and it carries its writer schema.
	AvroOCF AvroEncoding = iota
	// AvroBinary writes the bare binary datum: smallest and fastest, but
	// rejected by the broker when payload validation is on.
	AvroBinary
	// AvroJSON writes plain JSON text (unions unwrapped, bytes as arrays of
	// numbers), the form Rust danube-connect sinks can read. The value is
	// still checked against the Avro schema before it is written. Rejected by
	// the broker when payload validation is on.
	AvroJSON
)

// ParseAvroEncoding parses "ocf" (or ""), "binary" or "json".
func ParseAvroEncoding(s string) (AvroEncoding, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ocf", "container", "object_container":
		return AvroOCF, nil
	case "binary", "datum":
		return AvroBinary, nil
	case "json":
		return AvroJSON, nil
	}
	return 0, fmt.Errorf("schema: avro encoding %q: want ocf, binary or json", s)
}

// String returns "ocf", "binary" or "json".
func (e AvroEncoding) String() string {
	switch e {
	case AvroBinary:
		return "binary"
	case AvroJSON:
		return "json"
	}
	return "ocf"
}

// MarshalText implements encoding.TextMarshaler.
func (e AvroEncoding) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseAvroEncoding.
func (e *AvroEncoding) UnmarshalText(b []byte) error {
	p, err := ParseAvroEncoding(string(b))
	if err != nil {
		return err
	}
	*e = p
	return nil
}

// NumberFormat says how the 4 or 8 bytes of a number payload are read and
// written. The broker's number type only checks the length, so producer and
// consumer must agree; the default is [NumberInt64].
type NumberFormat uint8

const (
	// NumberInt64 writes big-endian two's-complement int64 (8 bytes) and
	// reads 8 bytes as int64 and 4 bytes as int32, both returned as int64.
	NumberInt64 NumberFormat = iota
	// NumberFloat64 writes big-endian IEEE-754 float64 (8 bytes) and reads 8
	// bytes as float64 and 4 bytes as float32, both returned as float64.
	NumberFloat64
)

// ParseNumberFormat parses "int64" (also "int", "long", "integer" or "")
// or "float64" (also "float", "double").
func ParseNumberFormat(s string) (NumberFormat, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "int64", "int", "long", "integer":
		return NumberInt64, nil
	case "float64", "float", "double":
		return NumberFloat64, nil
	}
	return 0, fmt.Errorf("schema: number format %q: want int64 or float64", s)
}

// String returns "int64" or "float64".
func (f NumberFormat) String() string {
	if f == NumberFloat64 {
		return "float64"
	}
	return "int64"
}

// MarshalText implements encoding.TextMarshaler.
func (f NumberFormat) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseNumberFormat.
func (f *NumberFormat) UnmarshalText(b []byte) error {
	p, err := ParseNumberFormat(string(b))
	if err != nil {
		return err
	}
	*f = p
	return nil
}

// Errors callers branch on with errors.Is.
var (
	// ErrInvalidPayload: the payload (or the value to encode) does not match
	// its schema. The message is bad data, not a transient failure.
	ErrInvalidPayload = errors.New("schema: invalid payload")
	// ErrSubjectMismatch: a message's schema belongs to another subject than
	// the one the sink expects. Such errors also match ErrInvalidPayload.
	ErrSubjectMismatch = errors.New("schema: subject mismatch")
	// ErrUnknownSchema: a message names a schema id or version the registry
	// does not know. Such errors also match ErrInvalidPayload.
	ErrUnknownSchema = errors.New("schema: unknown schema")
	// ErrIncompatible: the local definition cannot be registered as a new
	// version because the registry finds it incompatible with the latest.
	ErrIncompatible = errors.New("schema: incompatible schema")
	// ErrNotRegistered: the subject is missing, or the local definition
	// differs from the registered one, and AutoRegister is off.
	ErrNotRegistered = errors.New("schema: schema not registered")
	// ErrVersionUnavailable: the version strategy cannot be met (a pinned
	// version above the latest, a latest version below the minimum).
	ErrVersionUnavailable = errors.New("schema: schema version unavailable")
)

// invalid returns an error matching ErrInvalidPayload.
func invalid(t Type, format string, args ...any) error {
	return &payloadError{typ: t, msg: fmt.Sprintf(format, args...)}
}

type payloadError struct {
	typ   Type
	msg   string
	extra error // another sentinel the error matches, or nil
}

func (e *payloadError) Error() string {
	if e.typ == "" {
		return "schema: invalid payload: " + e.msg
	}
	return "schema: invalid " + string(e.typ) + " payload: " + e.msg
}

func (e *payloadError) Is(target error) bool {
	return target == ErrInvalidPayload || (e.extra != nil && target == e.extra)
}

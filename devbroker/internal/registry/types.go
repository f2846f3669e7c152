package registry

import (
	"fmt"
	"strings"
)

// SchemaType is a schema type in the broker's canonical lowercase spelling.
type SchemaType string

// Schema types.
const (
	TypeBytes      SchemaType = "bytes"
	TypeString     SchemaType = "string"
	TypeNumber     SchemaType = "number"
	TypeAvro       SchemaType = "avro"
	TypeJSONSchema SchemaType = "json_schema"
	TypeProtobuf   SchemaType = "protobuf"
)

// ParseSchemaType parses a schema type name case-insensitively. Besides the canonical names it
// accepts the broker's aliases int64, int, float and double (number), json (json_schema) and proto
// (protobuf).
func ParseSchemaType(s string) (SchemaType, error) {
	switch strings.ToLower(s) {
	case "bytes":
		return TypeBytes, nil
	case "string":
		return TypeString, nil
	case "number", "int64", "int", "float", "double":
		return TypeNumber, nil
	case "avro":
		return TypeAvro, nil
	case "json_schema", "json":
		return TypeJSONSchema, nil
	case "protobuf", "proto":
		return TypeProtobuf, nil
	}
	return "", fmt.Errorf("unknown schema type %q", s)
}

// primitive reports whether t ignores its definition bytes.
func (t SchemaType) primitive() bool {
	return t == TypeBytes || t == TypeString || t == TypeNumber
}

// CompatibilityMode is a subject's compatibility mode in canonical lowercase spelling.
type CompatibilityMode string

// Compatibility modes. New subjects start in CompatibilityBackward.
const (
	CompatibilityNone     CompatibilityMode = "none"
	CompatibilityBackward CompatibilityMode = "backward"
	CompatibilityForward  CompatibilityMode = "forward"
	CompatibilityFull     CompatibilityMode = "full"
)

// ParseCompatibilityMode parses a compatibility mode case-insensitively.
func ParseCompatibilityMode(s string) (CompatibilityMode, error) {
	switch m := CompatibilityMode(strings.ToLower(s)); m {
	case CompatibilityNone, CompatibilityBackward, CompatibilityForward, CompatibilityFull:
		return m, nil
	}
	return "", fmt.Errorf("invalid compatibility mode %q", s)
}

// Policy is a topic's validation policy.
type Policy string

// Validation policies, in the broker's canonical lowercase spelling.
const (
	PolicyNone    Policy = "none"
	PolicyWarn    Policy = "warn"
	PolicyEnforce Policy = "enforce"
)

// ParsePolicy parses a validation policy string, case-insensitively.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.ToLower(s)); p {
	case PolicyNone, PolicyWarn, PolicyEnforce:
		return p, nil
	}
	return "", fmt.Errorf("invalid validation policy %q", s)
}

// TopicPolicy is the schema configuration of one topic.
type TopicPolicy struct {
	Subject           string // bound subject, "" if none
	Policy            Policy // none, warn (default, also for "") or enforce
	PayloadValidation bool   // deep payload validation
}

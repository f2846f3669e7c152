package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// errNoSubject rejects messages on an enforce topic that has no subject.
var errNoSubject = errors.New("topic requires a schema but none is configured")

// Validate applies the topic's policy to one published message. A nil error accepts the message;
// otherwise the error text explains the rejection (the broker answers PERMISSION_DENIED with it).
// It is safe for concurrent use; with policy none, or without payload validation, it does not
// allocate on the accepting path.
//
// The rules, in order: policy none accepts everything. A topic without a (registered) subject
// rejects only under enforce. A message without schema id is rejected under enforce and accepted
// under warn. An id unknown to the registry is rejected under warn and enforce. An id of another
// subject is rejected under enforce and accepted under warn (without payload validation). With
// PayloadValidation the payload must then match the version named by schemaVersion (the latest
// version when nil): string must be UTF-8, number 4 or 8 bytes, json_schema a JSON document valid
// against the schema, avro an object container file whose records the registered schema can read;
// protobuf and bytes payloads are accepted unchecked. Payload failures reject under warn too.
func (r *Registry) Validate(ctx context.Context, p TopicPolicy, schemaID *uint64, schemaVersion *uint32, payload []byte) error {
	if p.Policy == PolicyNone {
		return nil
	}
	enforce := p.Policy == PolicyEnforce

	r.mu.RLock()
	var topicSubject *subject
	if p.Subject != "" {
		topicSubject = r.subjects[p.Subject]
	}
	if topicSubject == nil {
		r.mu.RUnlock()
		if enforce {
			return errNoSubject
		}
		return nil
	}
	if schemaID == nil {
		r.mu.RUnlock()
		if enforce {
			return fmt.Errorf("message missing schema_id (expected subject: %s)", p.Subject)
		}
		r.warn(ctx, "message without schema_id accepted", p.Subject)
		return nil
	}
	owner := r.byID[*schemaID]
	if owner == nil {
		r.mu.RUnlock()
		return fmt.Errorf("schema ID %d not found in registry", *schemaID)
	}
	if owner != topicSubject {
		name := owner.name
		r.mu.RUnlock()
		if enforce {
			return fmt.Errorf("schema subject mismatch: message schema_id=%d belongs to subject '%s', but topic requires '%s'",
				*schemaID, name, p.Subject)
		}
		r.warn(ctx, "message with schema_id of another subject accepted", p.Subject)
		return nil
	}
	if !p.PayloadValidation {
		r.mu.RUnlock()
		return nil
	}
	var v *version
	if schemaVersion != nil {
		v = owner.find(*schemaVersion)
	} else {
		v = owner.latest()
	}
	r.mu.RUnlock()
	if v == nil {
		if schemaVersion != nil {
			return fmt.Errorf("schema version %d of subject '%s' not found", *schemaVersion, p.Subject)
		}
		return fmt.Errorf("subject '%s' has no schema version", p.Subject)
	}
	if err := v.validatePayload(payload); err != nil {
		return fmt.Errorf("payload validation failed (subject '%s' version %d): %w", p.Subject, v.number, err)
	}
	return nil
}

func (r *Registry) warn(ctx context.Context, msg, subject string) {
	if r.log.Enabled(ctx, slog.LevelWarn) {
		r.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("subject", subject))
	}
}

// validatePayload checks payload against the version's schema.
func (v *version) validatePayload(payload []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("validator failure: %v", p)
		}
	}()
	switch v.def.typ {
	case TypeString:
		if !utf8.Valid(payload) {
			return errors.New("invalid UTF-8 in string payload")
		}
	case TypeNumber:
		if len(payload) != 4 && len(payload) != 8 {
			return fmt.Errorf("number payload must be 4 or 8 bytes, got %d", len(payload))
		}
	case TypeJSONSchema:
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("payload is not JSON: %w", err)
		}
		return v.def.jsonSchema.Validate(doc)
	case TypeAvro:
		return validateOCF(&v.ocfReaders, v.def.avro, payload)
	}
	// bytes and protobuf: accepted as they are.
	return nil
}

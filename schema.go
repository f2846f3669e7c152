package connect

import (
	"context"
	"errors"
	"fmt"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/schema"
)

// SchemaDecoder adapts a registry-backed *schema.Resolver to a [Decoder]:
// it decodes each record with the schema (id, version) it carries, sets
// rec.Value and completes rec.Schema. Records without a schema pass
// through (Value is the payload). Payloads that do not match their schema,
// name an unknown schema or one of an unexpected subject are InvalidData
// (dead-lettered); registry failures are Retryable. The record keeps the
// resolver, so [Decode] decodes it into a Go type with the same schema.
func SchemaDecoder(res *schema.Resolver) Decoder {
	return DecoderFunc(func(ctx context.Context, rec *SinkRecord) error {
		rec.resolver = res
		d, err := res.Decode(ctx, rec.Schema.ID, rec.Schema.Version, rec.Payload)
		if err != nil {
			if errors.Is(err, schema.ErrInvalidPayload) {
				return InvalidData(fmt.Errorf("decode %s offset %d: %w", rec.PartitionTopic, rec.Offset, err))
			}
			return Retryable(fmt.Errorf("decode %s offset %d: %w", rec.PartitionTopic, rec.Offset, err))
		}
		rec.Value = d.Value
		if d.Schema != nil {
			rec.Schema.Subject = d.Schema.Subject
			rec.Schema.Type = string(d.Schema.Type)
			rec.Schema.Version = d.Schema.Version
		}
		return nil
	})
}

// sinkDecoder returns the topic's decoder: the configured one, or, when the
// topic names an expected schema subject or asks for decoding, a resolver
// on the client's registry.
func sinkDecoder(c *danube.Client, t SinkTopic) Decoder {
	switch {
	case t.Decoder != nil:
		return t.Decoder
	case t.SchemaSubject != "":
		return SchemaDecoder(schema.NewResolver(c.Schemas(), schema.WithExpectedSubject(t.SchemaSubject), schema.WithNumberFormat(t.NumberFormat)))
	case t.DecodeSchema:
		return SchemaDecoder(schema.NewResolver(c.Schemas(), schema.WithNumberFormat(t.NumberFormat)))
	}
	return nil
}

// sourceEncoder returns the topic's encoder: the configured one, or a codec
// built from the topic's schema spec (registering it when the spec says
// so). A codec that cannot be built is a Configuration error.
func sourceEncoder(ctx context.Context, c *danube.Client, t SourceTopic) (Encoder, error) {
	if t.Encoder != nil || t.Schema == nil {
		return t.Encoder, nil
	}
	spec := *t.Schema
	if spec.Topic == "" {
		spec.Topic = t.Topic
	}
	codec, err := schema.NewCodec(ctx, c.Schemas(), spec)
	if err != nil {
		if danube.IsRetryable(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("schema of %s: %w", t.Topic, err)
		}
		return nil, Configuration(fmt.Errorf("schema of %s: %w", t.Topic, err))
	}
	return codec, nil
}

var (
	_ Encoder          = (*schema.Codec)(nil)
	_ PayloadValidator = (*schema.Codec)(nil)
)

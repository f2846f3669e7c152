// Package schema is the schema-aware serde of Danube Connect: it turns
// connector values into the payload bytes of a topic's registry schema and
// back, and it keeps the schema registry out of connector code.
//
// A source builds one [Codec] per topic with [NewCodec] at start-up
// (registration, evolution and version resolution happen there) and calls
// [Codec.Encode] per record ([Codec.Validate] for a payload it already
// holds in wire form); the producer is created with
// danube.WithSchema(codec.SchemaRef()). A sink shares one [Resolver] and
// calls [Resolver.Decode] or [Resolver.DecodeInto] with each message's
// schema id and version.
//
// # Wire forms
//
// What each type puts on the wire, and why, given what the Danube broker
// (v0.15.1) checks when a topic's payload validation is on:
//
//   - bytes: the payload as given, never copied ([]byte in, the same
//     []byte out). The broker checks nothing.
//   - string: the UTF-8 bytes of the text, no terminator, no length. Encode
//     and Decode reject invalid UTF-8 (the broker does the same).
//   - number: exactly 8 bytes, big-endian: a two's-complement int64 by
//     default ([NumberInt64]) or an IEEE-754 float64 ([NumberFloat64],
//     Spec.NumberFormat / [WithNumberFormat]). The broker only checks that a
//     number payload is 4 or 8 bytes long and the registry does not store
//     which kind of number a subject holds, so writer and reader must agree
//     on the format. Big-endian (network byte order) is used because neither
//     the broker nor the official clients define a byte order for number
//     (the Rust danube-connect runtime writes numbers as JSON text, "42",
//     which a validating broker refuses). Decode also reads 4-byte payloads
//     (int32 or float32, returned widened) and, for interoperability with
//     the Rust runtime, payloads of any other length that are a JSON number;
//     JSON text of exactly 4 or 8 characters is indistinguishable from binary
//     and is read as binary. Encode refuses values the format cannot hold exactly (1.5
//     as int64, 2^53+1 as float64).
//   - json_schema: compact JSON text (encoding/json). Values are validated
//     against the JSON Schema (santhosh-tekuri/jsonschema, draft 2020-12 by
//     default, external $refs refused) before they are published and, by
//     default, when they are consumed; a failure names the failing instance
//     path, e.g. `at "/qty": minimum: got 0, want 1`. []byte and
//     json.RawMessage values are taken as JSON text and published unchanged.
//   - avro: by default an Avro object container file holding exactly one
//     datum, codec null, the writer schema being the registered definition
//     text ([AvroOCF]). That is the only form the broker accepts for avro when
//     payload validation is on (it decodes payloads as container files; a bare
//     datum fails), it is self-describing, and it is what standard Avro
//     readers open. It costs the header (the schema text plus about 40 bytes)
//     per message. [AvroBinary] writes the bare binary datum (compact, but
//     refused by validating brokers); [AvroJSON] writes plain JSON text as the
//     Rust danube-connect runtime does (its "avro" is serde_json text), for
//     topics read by Rust sinks. Decode detects the form of each payload: the
//     magic "Obj\x01" is a container (codecs null and deflate); JSON text
//     starting with '{' is the JSON form; anything else is a binary datum.
//     Containers written with another writer schema are resolved into the
//     registered version by field name (missing fields take their defaults).
//   - protobuf: the serialized message as given ([]byte or a proto.Message);
//     the registry holds only .proto text, so payloads are passed through
//     without interpretation (the broker cannot validate them either).
//
// Messages without a schema (schema id 0) are passed through untouched:
// [Resolver.Decode] returns [Passthrough] (the payload as Value, a nil
// Schema) without any registry call.
//
// # Avro values
//
// Encode takes a struct with avro tags (hamba/avro), or generic data:
// map[string]any for records and maps, []any for arrays, and scalars; JSON
// numbers (float64, json.Number) are accepted wherever they are integral or,
// for float/double, anywhere. Bytes and fixed take []byte, a string (one byte
// per code point, the Avro JSON convention) or an array of numbers; decimals
// take *big.Rat, a number or a numeric string; timestamps and dates take
// time.Time or a number; a union takes nil, a value matching one branch, or
// the Avro JSON wrapped form {"branch": value}. Missing record fields take
// their schema defaults; unknown keys are ignored.
//
// Decode returns hamba/avro's generic form: records and maps as
// map[string]any, arrays as []any, int as int, long as int64, float as
// float32, bytes as []byte, fixed as [N]byte, enums as their symbol, unions
// as nil or map[string]any{"branch": value} (branch = full name of a named
// type, else the type name, e.g. "string", "long.timestamp-millis"),
// timestamps and dates as time.Time, time-of-day as time.Duration and
// decimals as *big.Rat. Every wire form decodes to the same value.
//
// The decoder is bounded for hostile input: array and map counts are
// checked against the bytes left, nesting is limited, trailing bytes and
// truncation are errors, and every failure matches ErrInvalidPayload.
//
// # Registration and evolution (NewCodec)
//
//  1. The latest version of the subject is fetched (Spec.Subject, or the
//     topic with "/" turned into "-").
//  2. Missing subject: with Spec.AutoRegister the local definition is
//     registered as version 1, else NewCodec fails with ErrNotRegistered.
//  3. The local definition differs from the latest version (compared by
//     canonical form: JSON re-serialized compactly with sorted keys, so
//     layout never makes a new version; primitives compare by type only):
//     with AutoRegister the registry's CheckCompatibility is asked first,
//     and an incompatible definition fails with ErrIncompatible carrying the
//     registry's reasons; a compatible one is registered as a new version.
//     Without AutoRegister the difference fails with ErrNotRegistered. When
//     the strategy pins an older version whose definition is the local one,
//     nothing is checked or registered. Otherwise a definition equal to an
//     older version re-registers nothing (the registry dedups by
//     fingerprint) and the latest stays latest: with danube.Latest() the
//     codec then encodes with the latest definition.
//  4. The version strategy is resolved from the latest version, as both
//     official clients do: danube.Latest() uses it; danube.Pinned(n) fails
//     with ErrVersionUnavailable when n is greater than the latest, else
//     uses version n; danube.Minimum(n) fails with ErrVersionUnavailable
//     when the latest is below n, else uses the latest.
//  5. The codec encodes with the resolved version's definition (not the
//     local text), so every payload matches the (id, version) it is tagged
//     with, and SchemaRef pins that version for the producer.
//
// With an empty Spec.Definition the registry's definition is used as is.
// Version strategies parse from text with [danube.ParseVersionRef]:
// "latest" (or ""), "pinned:N" or "N", "minimum:N".
//
// # Cache policy (Resolver)
//
// Compiled decoders are cached per (schema id, version) in a bounded LRU
// ([WithCacheSize], default 256 entries; the least recently used entry is
// evicted). Concurrent misses on one key share one registry lookup
// (singleflight); the lookup runs with its own timeout ([WithFetchTimeout])
// so that a caller giving up does not fail the others, and the caller that
// gives up returns at once with its context's error. A concrete version
// never changes, so its entry lives until evicted. Version 0 ("latest") is
// cached for [WithLatestTTL] (default 30 s; 0 disables) and then looked up
// again, so a sink follows new versions; the concrete version it resolved
// to is cached as well. Lookups that fail are not cached.
//
// # Errors
//
// [ErrInvalidPayload] marks bad data: a value or payload that does not
// match its schema, a message naming a schema the registry does not know
// ([ErrUnknownSchema]) or one of an unexpected subject ([ErrSubjectMismatch],
// see [WithExpectedSubject]). The runtime dead-letters such messages. Other
// Decode errors (registry unreachable, context done) are transient.
// NewCodec fails with [ErrNotRegistered], [ErrIncompatible] or
// [ErrVersionUnavailable] when the schema cannot be set up as asked.
package schema

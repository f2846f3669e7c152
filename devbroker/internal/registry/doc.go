// Package registry is the devbroker's schema registry: subjects, ids, versions, fingerprint dedup,
// compatibility checking and publish-time validation, optionally persisted in a data directory.
//
// Registry serves the subject RPCs of danube_schema.SchemaRegistry. The topic RPCs
// (ConfigureTopicSchema, UpdateTopicValidationPolicy, GetTopicSchemaConfig) need the broker's topic
// table, so the broker implements those itself by embedding *Registry and calling Validate.
//
// # Behaviour
//
// It follows Danube broker v0.15.1: subject ids from 1 shared by all versions of a subject,
// versions 1, 2, …, default compatibility backward, the broker's vocabulary of types, modes and
// policies (with its aliases; outputs are canonical lowercase), its status codes and messages, the
// JSON envelope in GetSchemaResponse.schema_definition and created_at in Unix seconds.
// Fingerprints are "sha256:<hex>" of the compact re-serialized document for json_schema (so
// whitespace and key order do not make new versions), of the Avro parsing canonical form for avro
// and of the raw text for protobuf; primitives use their type name.
//
// # Deliberate differences from the real broker
//
//   - DeleteSchemaVersion really deletes: the version disappears from ListVersions, GetSchema,
//     GetLatestSchema (latest becomes the highest remaining version) and deduplication. The real
//     broker only drops the version record, so a deleted latest version is still served as latest.
//     Version numbers are never reused. A subject whose versions were all deleted keeps its id and
//     mode; GetLatestSchema then answers NOT_FOUND and ListSubjects reports schema type bytes.
//   - Payload validation uses the version named by each message's schema_version (the latest when
//     unset). The real broker validates every message against the version of the first message it
//     saw with that schema id on the topic.
//   - Deduplication matches schema type as well as fingerprint.
//   - Protobuf payloads are not validated (the real broker panics); they are accepted.
//   - Avro payloads must be object container files with the null or deflate codec. They are walked
//     by a bounded checker of our own (every record must be well formed under the file's writer
//     schema) and the registered schema must be able to read the writer schema, as decided by
//     hamba/avro's reader/writer resolution. Deflate blocks are limited to 64 MiB inflated.
//   - RegisterSchema rejects an empty subject name.
//
// # Persistence
//
// With a data directory every mutation rewrites one JSON state file atomically (temporary file,
// fsync, rename, fsync of the directory) before its RPC returns, so subjects, versions and modes
// survive a restart and a kill -9. Validation caches are rebuilt on demand.
package registry

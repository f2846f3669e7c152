// Package config is the configuration machinery of Danube Connect: one
// typed Go struct per section, whose struct tags drive parsing, defaults,
// strict validation, redaction and the generated reference documentation.
//
// # Tags
//
//	config:"key_name"   the key (snake_case); fields without it are ignored
//	default:"…"         the default, written as in a file ("5s", "3", "nack")
//	doc:"…"             one line for the reference docs
//	secret:"true"       redacted in logs (slog.LogValuer) and dumps
//	enum:"a,b,c"        allowed values (matched case-insensitively)
//	required:"true"     the zero value is an error
//	min:"0" max:"100"   inclusive bounds of numbers and durations
//
// Scalars are strings, booleans, integers, floats and time.Duration
// (written "5s"); sections are structs (TOML tables) and slices of structs
// (arrays of tables, [[topics]]); types with their own syntax implement
// [Unmarshaler]. Keys ending in _ms stay integers where the Rust SDK has
// them.
//
// # Sources and precedence
//
// defaults < file (TOML, or YAML for .yaml/.yml) < environment < --set flags.
// Files are decoded into generic maps and walked onto the structs, so every
// problem is reported with its full key path: unknown keys (with a
// did-you-mean suggestion), type mismatches naming the expected type,
// missing required keys, values outside an enum or range. All problems are
// reported at once, sorted by key, in an *[Error].
//
// Environment: DANUBE_SERVICE_URL and CONNECTOR_NAME (as in the Rust SDK)
// set danube_service_url and connector_name; any key is set by
// DANUBE_CONNECT__<PATH> with "__" between path segments, e.g.
// DANUBE_CONNECT__RETRY__MAX_RETRIES=5 or
// DANUBE_CONNECT__TOPICS__0__SUBSCRIPTION=audit. Variables naming another
// connector's section are ignored, so one environment serves several
// connectors in one process. CONNECTOR_CONFIG_PATH names the file when the
// command line names none. Flags: --set retry.max_retries=5,
// --set topics[0].topic=/default/x.
//
// Strings in files may reference the environment: ${VAR} or
// ${VAR:-default} ($$ is a literal $). An unset variable without a default
// is an error naming the key. An interpolated value, like an environment
// or flag value, is text and may fill a number, boolean or duration key;
// a quoted "5" written in the file for an integer key is a type error.
package config

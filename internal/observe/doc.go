// Package observe holds the process-level observability of the
// danube-connect command: the HTTP endpoints (/metrics, /healthz,
// /readyz on one listener), the slog handler setup and the OpenTelemetry
// tracer provider. Libraries never use it; the command wires it.
package observe

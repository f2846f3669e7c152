// Package devbroker is an embeddable, wire-compatible Danube broker for tests, benchmarks and
// local development. It serves Danube's real gRPC protocol (broker v0.15.1), so the same client
// code runs against it and against production brokers.
package devbroker

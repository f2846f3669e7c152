// Package wire holds the Danube gRPC protocol: the .proto files under proto/ (written from the
// broker v0.15.1 protocol facts) and the Go code generated from them in danubepb and schemapb.
//
// The generated code is committed so users need no protoc. To regenerate after editing a .proto
// file, install protoc, protoc-gen-go and protoc-gen-go-grpc and run `go generate ./internal/wire`.
package wire

//go:generate protoc -I proto --go_out=. --go_opt=module=github.com/danube-connect/connect/internal/wire --go-grpc_out=. --go-grpc_opt=module=github.com/danube-connect/connect/internal/wire proto/DanubeApi.proto proto/SchemaRegistry.proto

package registry

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

// serve starts a gRPC server on loopback serving reg and returns a client for it.
func serve(t *testing.T, reg *Registry) schemapb.SchemaRegistryClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	schemapb.RegisterSchemaRegistryServer(srv, reg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	})
	return schemapb.NewSchemaRegistryClient(conn)
}

// newRegistry opens an in-memory registry and serves it.
func newRegistry(t *testing.T) (*Registry, schemapb.SchemaRegistryClient) {
	t.Helper()
	reg, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	return reg, serve(t, reg)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func register(t *testing.T, c schemapb.SchemaRegistryClient, subject, typ, def string) *schemapb.RegisterSchemaResponse {
	t.Helper()
	resp, err := c.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{
		Subject: subject, SchemaType: typ, SchemaDefinition: []byte(def), CreatedBy: "test",
	})
	if err != nil {
		t.Fatalf("register %s %s: %v", subject, typ, err)
	}
	return resp
}

func wantCode(t *testing.T, err error, code codes.Code, msgPrefix string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v (%q), want code %v", st.Code(), st.Message(), code)
	}
	if msgPrefix != "" && (len(st.Message()) < len(msgPrefix) || st.Message()[:len(msgPrefix)] != msgPrefix) {
		t.Fatalf("message %q does not start with %q", st.Message(), msgPrefix)
	}
}

package registry

import (
	"testing"

	"github.com/danube-connect/connect/internal/wire/schemapb"
	"google.golang.org/protobuf/proto"
)

const userJSON = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name"]}`

func TestRegisterAndGet(t *testing.T) {
	_, c := newRegistry(t)
	r1 := register(t, c, "users", "json_schema", userJSON)
	if r1.SchemaId != 1 || r1.Version != 1 || !r1.IsNewVersion {
		t.Fatalf("first register: %v", r1)
	}
	got, err := c.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: 1, Version: proto.Uint32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "users" || got.SchemaType != "json_schema" || got.CompatibilityMode != "backward" {
		t.Fatalf("get: %v", got)
	}
}

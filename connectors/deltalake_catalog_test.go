package connectors

import (
	"strings"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors/deltalake"
)

// TestDeltaLakeNeedsParallelismOne checks that the catalog refuses
// exactly-once with parallel lanes per partition, and allows it when
// exactly_once is off.
func TestDeltaLakeNeedsParallelismOne(t *testing.T) {
	e, ok := Lookup("deltalake")
	if !ok {
		t.Fatal("deltalake is not in the catalog")
	}
	core := &config.Core{ConnectorName: "lake", Topics: []config.Topic{{Topic: "/default/t", Subscription: "s"}}}
	core.Processing.Parallelism = 4
	cfg := &deltalake.Config{ExactlyOnce: true}
	_, err := e.NewSink(Env{Core: core, Config: cfg})
	if connect.ClassOf(err) != connect.ClassConfiguration || !strings.Contains(err.Error(), "parallelism") {
		t.Fatalf("err = %v, want a configuration error about parallelism", err)
	}
	cfg.ExactlyOnce = false
	if _, err := e.NewSink(Env{Core: core, Config: cfg}); err != nil {
		t.Fatal(err)
	}
}

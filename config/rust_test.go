package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danube-connect/connect/config"
)

// rustCore returns the core part of a Rust connector file in testdata/rust:
// the text before the "# --- connector section ---" line.
func rustCore(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rust", name))
	if err != nil {
		t.Fatal(err)
	}
	core, _, ok := strings.Cut(string(data), "# --- connector section ---")
	if !ok {
		t.Fatalf("%s has no connector section marker", name)
	}
	return []byte(core)
}

// The core part of each Rust example file loads unchanged, with the Rust
// meaning of every key.
func TestRustCoreFilesLoad(t *testing.T) {
	files, _ := filepath.Glob("testdata/rust/*.toml")
	if len(files) < 3 {
		t.Fatalf("want at least 3 Rust example files, got %d", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			if _, err := config.ParseDocument(name, rustCore(t, name), config.TOML, nil, config.Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}

	doc, err := config.ParseDocument("mqtt-source.toml", rustCore(t, "mqtt-source.toml"), config.TOML, nil, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := doc.Core
	if c.ConnectorName != "mqtt-iot-source" || c.Retry.MaxRetries != 5 || c.Retry.RetryBackoffMS != 500 || c.Retry.MaxBackoffMS != 10000 ||
		c.Processing.BatchSize != 100 || c.Processing.BatchTimeoutMS != 500 || c.Processing.PollIntervalMS != 50 ||
		c.ListenAddr() != ":9091" || c.Processing.LogLevel != "debug" ||
		c.Processing.HealthCheckIntervalMS != 15000 || c.Processing.HealthCheckFailureThreshold != 4 {
		t.Fatalf("core: %+v", c)
	}
	if len(c.Schemas) != 2 || c.Schemas[0].SchemaType != "json_schema" || !c.Schemas[0].AutoRegister ||
		c.Schemas[1].SchemaType != "bytes" || c.Schemas[1].AutoRegister {
		t.Fatalf("schemas (json is json_schema; auto_register defaults to true as in Rust): %+v", c.Schemas)
	}
}

// rustCatalog knows the sections of the Rust example files used here.
type rustCatalog struct{}

type webhookSection struct {
	Port int `config:"port" default:"80" doc:"Port."`
}

func (rustCatalog) Section(name string) (any, bool) {
	switch name {
	case "webhook", "demo":
		return &webhookSection{}, true
	}
	return nil, false
}

func (rustCatalog) Names() []string { return []string{"demo", "webhook"} }

// A file without a connector key runs the connector whose section it has.
func TestRustFileConnectorInferred(t *testing.T) {
	doc, err := config.LoadDocument(filepath.Join("testdata", "rust", "minimal-source.toml"), rustCatalog{}, config.Options{
		Env: []string{"DANUBE_CONNECT__WEBHOOK__PORT=9000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Core.Connector != "webhook" || !doc.Inferred || doc.Connector.(*webhookSection).Port != 9000 {
		t.Fatalf("connector %q inferred=%v section %+v", doc.Core.Connector, doc.Inferred, doc.Connector)
	}

	_, err = config.ParseDocument("two.toml", []byte("connector_name = \"x\"\n[webhook]\nport = 1\n[demo]\nport = 2\n"), config.TOML, rustCatalog{}, config.Options{})
	if err == nil || !strings.Contains(err.Error(), "connector: required: the file has sections of several connectors (demo, webhook)") {
		t.Fatalf("two sections: %v", err)
	}
	_, err = config.ParseDocument("none.toml", []byte("connector_name = \"x\"\n"), config.TOML, rustCatalog{}, config.Options{})
	if err == nil || !strings.Contains(err.Error(), "connector: required: name the connector to run, or give its section") {
		t.Fatalf("no section: %v", err)
	}
	// An explicit connector key wins over the sections present.
	doc, err = config.ParseDocument("explicit.toml", []byte("connector_name = \"x\"\nconnector = \"demo\"\n[demo]\nport = 2\n"), config.TOML, rustCatalog{}, config.Options{})
	if err != nil || doc.Inferred || doc.Core.Connector != "demo" {
		t.Fatalf("explicit: %v %+v", err, doc)
	}
}

// --set of a connector's section applies only to files of that connector;
// NAME:key=value only to the file whose connector_name is NAME.
func TestSetScopedToConnector(t *testing.T) {
	webhook := "connector_name = \"hook\"\n[webhook]\nport = 1\n"
	demoFile := "connector_name = \"d\"\nconnector = \"demo\"\n[demo]\nport = 2\n"
	opts := config.Options{Set: []string{"webhook.port=7", "retry.max_retries=9", "d:processing.batch_size=5", "hook:demo.port=3"}}
	w, err := config.ParseDocument("w.toml", []byte(webhook), config.TOML, rustCatalog{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := config.ParseDocument("d.toml", []byte(demoFile), config.TOML, rustCatalog{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if w.Connector.(*webhookSection).Port != 7 || w.Core.Retry.MaxRetries != 9 || w.Core.Processing.BatchSize != 1000 {
		t.Fatalf("webhook file: %+v %+v", w.Connector, w.Core)
	}
	if d.Connector.(*webhookSection).Port != 2 || d.Core.Retry.MaxRetries != 9 || d.Core.Processing.BatchSize != 5 {
		t.Fatalf("demo file: %+v %+v", d.Connector, d.Core)
	}
	for _, s := range []string{"x", ":a=b", "n:=1"} {
		if _, err := config.ParseDocument("d.toml", []byte(demoFile), config.TOML, rustCatalog{}, config.Options{Set: []string{s}}); err == nil || !strings.Contains(err.Error(), "(--set)") {
			t.Errorf("--set %q: %v", s, err)
		}
	}
}

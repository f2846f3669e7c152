package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect/config"
)

// demo is a connector section used by these tests.
type demo struct {
	Endpoint string            `config:"endpoint" required:"true" doc:"Where to send."`
	Password string            `config:"password" secret:"true" doc:"Password."`
	Mode     string            `config:"mode" default:"fast" enum:"fast,safe" doc:"Mode."`
	Level    int               `config:"level" default:"3" min:"1" max:"9" doc:"Level."`
	Timeout  time.Duration     `config:"timeout" default:"5s" doc:"Timeout."`
	Tags     []string          `config:"tags" doc:"Tags."`
	Labels   map[string]string `config:"labels" doc:"Labels."`
	Ratio    float64           `config:"ratio" default:"0.5" doc:"Ratio."`
	Enabled  bool              `config:"enabled" default:"true" doc:"Enabled."`
}

type demoCatalog struct{}

func (demoCatalog) Section(name string) (any, bool) {
	switch name {
	case "demo":
		return &demo{}, true
	case "other":
		return &demo{}, true
	}
	return nil, false
}

func (demoCatalog) Names() []string { return []string{"demo", "other"} }

func parse(t *testing.T, src string, opts config.Options) (*config.Document, error) {
	t.Helper()
	return config.ParseDocument("test.toml", []byte(src), config.TOML, demoCatalog{}, opts)
}

func mustParse(t *testing.T, src string, opts config.Options) *config.Document {
	t.Helper()
	doc, err := parse(t, src, opts)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

const minimal = `
connector_name = "c1"
connector = "demo"
[demo]
endpoint = "e"
`

func TestDefaults(t *testing.T) {
	doc := mustParse(t, minimal, config.Options{})
	c := doc.Core
	if c.DanubeServiceURL != "http://127.0.0.1:6650" || c.Retry.MaxRetries != 3 || c.Retry.RetryBackoffMS != 1000 ||
		c.Retry.MaxBackoffMS != 30000 || c.Processing.BatchSize != 1000 || c.Processing.BatchTimeoutMS != 1000 ||
		c.Processing.PollIntervalMS != 100 || c.ListenAddr() != ":9090" || c.Processing.LogLevel != "info" ||
		c.Processing.DrainTimeout != 30*time.Second || c.DeadLetter.OnExhausted != "nack" {
		t.Fatalf("core defaults: %+v", c)
	}
	d := doc.Connector.(*demo)
	if d.Mode != "fast" || d.Level != 3 || d.Timeout != 5*time.Second || d.Ratio != 0.5 || !d.Enabled {
		t.Fatalf("section defaults: %+v", d)
	}
}

// A Rust connector's core file loads unchanged when no catalog is given
// (its schema files exist, relative to the working directory).
func TestRustCoreFileLoads(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"sensor.json", "alarm.avsc"} {
		writeFile(t, filepath.Join(dir, "schemas", f), "{}")
	}
	t.Chdir(dir)
	src := `
danube_service_url = "http://danube-broker:6650"
connector_name = "mqtt-iot-source"

[retry]
max_retries = 5
retry_backoff_ms = 500
max_backoff_ms = 10000

[processing]
batch_size = 100
batch_timeout_ms = 200
poll_interval_ms = 50
metrics_port = 9091
log_level = "debug"

[[schemas]]
topic = "/iot/sensors"
subject = "sensor-events"
schema_type = "json_schema"
schema_file = "schemas/sensor.json"
auto_register = true
version_strategy = "latest"

[[schemas]]
topic = "/iot/alarms"
subject = "alarms"
schema_type = "avro"
schema_file = "schemas/alarm.avsc"
version_strategy = { pinned = 2 }
`
	doc, err := config.ParseDocument("rust.toml", []byte(src), config.TOML, nil, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := doc.Core
	if c.Retry.MaxRetries != 5 || c.Retry.RetryBackoffMS != 500 || c.Retry.MaxBackoffMS != 10000 {
		t.Errorf("retry: %+v", c.Retry)
	}
	if c.Processing.BatchSize != 100 || c.Processing.BatchTimeoutMS != 200 || c.Processing.PollIntervalMS != 50 ||
		c.Processing.MetricsPort != 9091 || c.Processing.LogLevel != "debug" {
		t.Errorf("processing: %+v", c.Processing)
	}
	if len(c.Schemas) != 2 || c.Schemas[0].Subject != "sensor-events" || !c.Schemas[0].AutoRegister ||
		c.Schemas[0].VersionStrategy.String() != "latest" || c.Schemas[1].VersionStrategy.String() != "pinned:2" {
		t.Errorf("schemas: %+v", c.Schemas)
	}
	if got := c.ListenAddr(); got != ":9091" {
		t.Errorf("listen addr %q", got)
	}
	p := c.RetryPolicy()
	if p.MaxRetries != 5 || p.Initial != 500*time.Millisecond || p.Max != 10*time.Second {
		t.Errorf("retry policy %+v", p)
	}
}

func TestPrecedence(t *testing.T) {
	src := minimal + `
level = 4
[retry]
max_retries = 7
`
	env := []string{
		"DANUBE_CONNECT__DEMO__LEVEL=5",             // env beats file
		"DANUBE_CONNECT__RETRY__MAX_RETRIES=8",      // env beats file; flag beats env below
		"DANUBE_SERVICE_URL=http://from-env:6650",   // Rust alias
		"DANUBE_CONNECT__OTHER__LEVEL=99",           // another connector's section: ignored
		"DANUBE_CONNECT__PROCESSING__BATCH_SIZE=42", // not in the file at all
		"CONNECTOR_NAME=from-env",
	}
	set := []string{"retry.max_retries=9", "demo.tags=a, b", "demo.labels=k=v,x=y", "connector_name=from-flag"}
	doc := mustParse(t, src, config.Options{Env: env, Set: set})
	c, d := doc.Core, doc.Connector.(*demo)
	if d.Level != 5 {
		t.Errorf("level = %d, want 5 (env over file)", d.Level)
	}
	if c.Retry.MaxRetries != 9 {
		t.Errorf("max_retries = %d, want 9 (flag over env over file)", c.Retry.MaxRetries)
	}
	if c.DanubeServiceURL != "http://from-env:6650" {
		t.Errorf("service url %q", c.DanubeServiceURL)
	}
	if c.Processing.BatchSize != 42 {
		t.Errorf("batch size %d", c.Processing.BatchSize)
	}
	if c.ConnectorName != "from-flag" {
		t.Errorf("connector name %q", c.ConnectorName)
	}
	if fmt.Sprint(d.Tags) != "[a b]" || d.Labels["k"] != "v" || d.Labels["x"] != "y" {
		t.Errorf("tags %v labels %v", d.Tags, d.Labels)
	}
	// The prefixed variable beats the Rust alias for the same key.
	doc = mustParse(t, minimal, config.Options{Env: []string{"DANUBE_SERVICE_URL=http://a:1", "DANUBE_CONNECT__DANUBE_SERVICE_URL=http://b:2"}})
	if doc.Core.DanubeServiceURL != "http://b:2" {
		t.Errorf("service url %q, want the prefixed variable", doc.Core.DanubeServiceURL)
	}
}

func TestSetListElements(t *testing.T) {
	doc := mustParse(t, minimal, config.Options{Set: []string{"topics[0].topic=/default/a", "topics.0.subscription=s", "topics[1].topic=/default/b"}})
	if len(doc.Core.Topics) != 2 || doc.Core.Topics[0].Subscription != "s" || doc.Core.Topics[1].Topic != "/default/b" ||
		doc.Core.Topics[1].SubscriptionType != "shared" {
		t.Fatalf("topics %+v", doc.Core.Topics)
	}
	_, err := parse(t, minimal, config.Options{Set: []string{"topics[3].topic=/default/a"}})
	wantProblem(t, err, "topics.3.topic: index 3 out of range")
}

func TestInterpolation(t *testing.T) {
	src := `
connector_name = "${NAME}"
connector = "demo"
[demo]
endpoint = "http://${HOST:-localhost}:${PORT:-80}/x"
password = "${SECRET}"
level = "${LEVEL:-6}"
tags = ["$${literal}"]
`
	doc := mustParse(t, src, config.Options{Env: []string{"NAME=n1", "PORT=8080", "SECRET=hunter2"}})
	d := doc.Connector.(*demo)
	if d.Tags[0] != "${literal}" {
		t.Errorf("escaped literal: %q", d.Tags)
	}
	if doc.Core.ConnectorName != "n1" || d.Endpoint != "http://localhost:8080/x" || d.Password != "hunter2" || d.Level != 6 {
		t.Fatalf("interpolated: %q %+v", doc.Core.ConnectorName, d)
	}
	_, err := parse(t, strings.Replace(src, `tags = ["$${literal}"]`, "", 1), config.Options{Env: []string{"NAME=n1"}})
	wantProblem(t, err, "demo.password: environment variable SECRET is not set")
	// Without interpolation a quoted number is a type error.
	_, err = parse(t, minimal+`level = "6"`, config.Options{})
	wantProblem(t, err, `demo.level: want integer, got string "6"`)
}

func TestRedaction(t *testing.T) {
	src := minimal + `password = "hunter2"
[auth]
token = "tok-secret"
`
	doc := mustParse(t, src, config.Options{})
	dump := doc.Dump()
	if strings.Contains(dump, "hunter2") || strings.Contains(dump, "tok-secret") {
		t.Fatalf("dump leaks a secret:\n%s", dump)
	}
	if !strings.Contains(dump, `token = "[redacted]"`) || !strings.Contains(dump, `password = "[redacted]"`) {
		t.Fatalf("dump does not show redacted secrets:\n%s", dump)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("config", "core", doc.Core, "section", config.LogValue(doc.Connector))
	if strings.Contains(buf.String(), "hunter2") || strings.Contains(buf.String(), "tok-secret") {
		t.Fatalf("log leaks a secret: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"token":"[redacted]"`) {
		t.Fatalf("log lacks the redacted token: %s", buf.String())
	}
	// The dump loads back with the same meaning.
	again, err := config.ParseDocument("dump.toml", []byte(dump), config.TOML, demoCatalog{}, config.Options{})
	if err != nil {
		t.Fatalf("dump does not load back: %v\n%s", err, dump)
	}
	if again.Dump() != dump {
		t.Fatalf("dump not stable:\n%s\n---\n%s", dump, again.Dump())
	}
}

func TestDidYouMean(t *testing.T) {
	src := minimal + `
levle = 4
[retry]
max_retrys = 3
[procesing]
batch_size = 1
`
	_, err := parse(t, src, config.Options{Env: []string{"DANUBE_CONNECT__RETRY__BACKOF=fixed"}})
	wantProblem(t, err, `demo.levle: unknown key (did you mean "level"?)`)
	wantProblem(t, err, `retry.max_retrys: unknown key (did you mean "max_retries"?)`)
	wantProblem(t, err, `procesing: unknown key (did you mean "processing"?)`)
	wantProblem(t, err, `retry.backof: unknown key (did you mean "backoff"?) (from env DANUBE_CONNECT__RETRY__BACKOF)`)
	_, err = parse(t, strings.Replace(minimal, `"demo"`, `"dmeo"`, 1), config.Options{})
	wantProblem(t, err, `connector: unknown connector "dmeo" (did you mean "demo"?)`)
}

func TestAllProblemsSorted(t *testing.T) {
	src := `
connector = "demo"
[demo]
level = 0
mode = "sfe"
[retry]
max_retries = "x"
retry_backoff_ms = 10
max_backoff_ms = 5
[[topics]]
topic = "nope"
`
	_, err := parse(t, src, config.Options{})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %T %v", err, err)
	}
	// Type errors stop before validation, so fix the type and look again.
	wantProblem(t, err, `retry.max_retries: want integer, got string "x"`)
	_, err = parse(t, strings.Replace(src, `"x"`, "2", 1), config.Options{})
	got := err.Error()
	want := []string{
		"test.toml: connector_name: required",
		"test.toml: demo.endpoint: required",
		"test.toml: demo.level: 0 is out of range 1..9",
		`test.toml: demo.mode: "sfe" is not one of fast, safe (did you mean "safe"?)`,
		"test.toml: retry.max_backoff_ms: 5 is below retry_backoff_ms 10",
		`test.toml: topics[0].topic: "nope": want /namespace/name`,
	}
	if got != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestYAMLEquivalent(t *testing.T) {
	yml := `
connector_name: c1
connector: demo
retry:
  max_retries: 4
topics:
  - topic: /default/a
    subscription_type: KeyShared
    nack_delay: 2s
demo:
  endpoint: e
  tags: [x, y]
  ratio: 1
`
	doc, err := config.ParseDocument("t.yaml", []byte(yml), config.YAML, demoCatalog{}, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Core.Retry.MaxRetries != 4 || doc.Core.Topics[0].SubscriptionType != "key_shared" ||
		doc.Core.Topics[0].NackDelay != 2*time.Second || doc.Connector.(*demo).Ratio != 1 {
		t.Fatalf("yaml: %+v %+v", doc.Core, doc.Connector)
	}
	_, err = config.ParseDocument("t.yaml", []byte("connector: demo\ndemo:\n  endpoint: [1]\n"), config.YAML, demoCatalog{}, config.Options{})
	wantProblem(t, err, "demo.endpoint: want string, got list")
}

func TestVersionStrategyForms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"latest"`, "latest"}, {`"Latest"`, "latest"}, {`{ pinned = 3 }`, "pinned:3"},
		{`{ Minimum = 2 }`, "minimum:2"}, {`"pinned:4"`, "pinned:4"}, {`"min:5"`, "minimum:5"}, {`"6"`, "pinned:6"},
	} {
		src := minimal + "\n[[schemas]]\ntopic = \"/a/b\"\nsubject = \"s\"\nschema_type = \"string\"\nversion_strategy = " + tc.in + "\n"
		doc := mustParse(t, src, config.Options{})
		if got := doc.Core.Schemas[0].VersionStrategy.String(); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{`"pinned:0"`, `want "latest", {pinned = N} or {minimum = N}, got "pinned:0"`},
		{`{ pinned = 0 }`, "pinned: version must be a positive integer, got integer 0"},
		{`{ newest = 1 }`, `want "latest", {pinned = N} or {minimum = N}, got key "newest"`},
		{`3`, `want "latest", {pinned = N} or {minimum = N}, got integer 3`},
	} {
		src := minimal + "\n[[schemas]]\ntopic = \"/a/b\"\nsubject = \"s\"\nschema_type = \"string\"\nversion_strategy = " + tc.in + "\n"
		_, err := parse(t, src, config.Options{})
		wantProblem(t, err, "schemas[0].version_strategy: "+tc.want)
	}
}

func TestMarkdown(t *testing.T) {
	var b strings.Builder
	if err := config.Markdown(&b, 2, "Core", "", "", &config.Core{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"### `[retry]`", "| `max_retries` | integer | `3` |", "### `[[topics]]`",
		"`DANUBE_CONNECT__RETRY__MAX_RETRIES`", "Secret: redacted"} {
		if !strings.Contains(out, want) {
			t.Errorf("docs lack %q", want)
		}
	}
}

func wantProblem(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error:\n%v\nwant a line containing %q", err, want)
	}
}

func TestConnectorInferredFromSection(t *testing.T) {
	// A Rust connector's file names no connector, only its section.
	doc := mustParse(t, strings.Replace(minimal, "connector = \"demo\"\n", "", 1), config.Options{})
	if doc.Core.Connector != "demo" {
		t.Fatalf("connector = %q, want demo (inferred from [demo])", doc.Core.Connector)
	}
	// An override still wins over the inference.
	_, err := parse(t, strings.Replace(minimal, "connector = \"demo\"\n", "", 1), config.Options{Set: []string{"connector=dmeo"}})
	wantProblem(t, err, `connector: unknown connector "dmeo" (did you mean "demo"?)`)
	// Without a section there is nothing to infer from.
	_, err = parse(t, "connector_name = \"c1\"\n", config.Options{})
	wantProblem(t, err, `connector: required`)
}

package schema

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/danube-connect/connect/danube"
)

func mustSerde(t testing.TB, typ Type, def string, o serdeOptions) serde {
	t.Helper()
	s, err := newSerde(typ, []byte(def), o)
	if err != nil {
		t.Fatalf("newSerde(%s): %v", typ, err)
	}
	return s
}

func wantInvalid(t testing.TB, err error, contains string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("error %v: want ErrInvalidPayload", err)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not mention %q", err, contains)
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]Type{
		"bytes": Bytes, "STRING": String, "number": Number, "int64": Number, "Int": Number, "float": Number, "double": Number,
		"avro": Avro, "json_schema": JSONSchema, "JSON": JSONSchema, "protobuf": Protobuf, "proto": Protobuf,
	} {
		got, err := ParseType(in)
		if err != nil || got != want {
			t.Errorf("ParseType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "xml", "jsonschema2"} {
		if _, err := ParseType(in); err == nil {
			t.Errorf("ParseType(%q): want an error", in)
		}
	}
}

func TestTextForms(t *testing.T) {
	var spec struct {
		Type    Type            `json:"type"`
		Version VersionStrategy `json:"version"`
		Avro    AvroEncoding    `json:"avro"`
		Number  NumberFormat    `json:"number"`
	}
	if err := json.Unmarshal([]byte(`{"type":"json","version":"minimum:2","avro":"binary","number":"double"}`), &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Type != JSONSchema || spec.Version != danube.Minimum(2) || spec.Avro != AvroBinary || spec.Number != NumberFloat64 {
		t.Fatalf("parsed %+v", spec)
	}
	b, _ := json.Marshal(spec)
	if string(b) != `{"type":"json_schema","version":"minimum:2","avro":"binary","number":"float64"}` {
		t.Fatalf("marshalled %s", b)
	}
	if err := json.Unmarshal([]byte(`{"type":"yaml"}`), &spec); err == nil {
		t.Fatal("unknown type accepted")
	}
}

func TestParseEncodings(t *testing.T) {
	for in, want := range map[string]AvroEncoding{"": AvroOCF, "ocf": AvroOCF, "Binary": AvroBinary, "json": AvroJSON} {
		if got, err := ParseAvroEncoding(in); err != nil || got != want {
			t.Errorf("ParseAvroEncoding(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAvroEncoding("snappy"); err == nil {
		t.Error("ParseAvroEncoding(snappy): want an error")
	}
	for in, want := range map[string]NumberFormat{"": NumberInt64, "int": NumberInt64, "double": NumberFloat64, "float64": NumberFloat64} {
		if got, err := ParseNumberFormat(in); err != nil || got != want {
			t.Errorf("ParseNumberFormat(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseNumberFormat("decimal"); err == nil {
		t.Error("ParseNumberFormat(decimal): want an error")
	}
}

func TestBytesPassThrough(t *testing.T) {
	s := mustSerde(t, Bytes, "", serdeOptions{})
	in := []byte{0, 1, 2, 0xff}
	out, err := s.encode(in)
	if err != nil || &out[0] != &in[0] {
		t.Fatalf("encode copied or failed: %v", err)
	}
	v, err := s.decode(in)
	if err != nil || &v.([]byte)[0] != &in[0] {
		t.Fatalf("decode copied or failed: %v", err)
	}
	var b []byte
	if err := s.decodeInto(in, &b); err != nil || &b[0] != &in[0] {
		t.Fatalf("decodeInto: %v", err)
	}
	if out, _ := s.encode("text"); string(out) != "text" {
		t.Fatalf("encode string: %q", out)
	}
	_, err = s.encode(42)
	wantInvalid(t, err, "int")
}

func TestString(t *testing.T) {
	s := mustSerde(t, String, "", serdeOptions{})
	out, err := s.encode("héllo")
	if err != nil || string(out) != "héllo" {
		t.Fatalf("encode: %q %v", out, err)
	}
	v, err := s.decode(out)
	if err != nil || v != "héllo" {
		t.Fatalf("decode: %v %v", v, err)
	}
	_, err = s.encode([]byte{0xff, 0xfe})
	wantInvalid(t, err, "UTF-8")
	_, err = s.decode([]byte{'a', 0xc3})
	wantInvalid(t, err, "UTF-8")
	var str string
	if err := s.decodeInto([]byte("x"), &str); err != nil || str != "x" {
		t.Fatalf("decodeInto: %q %v", str, err)
	}
	_, err = s.encode(1.5)
	wantInvalid(t, err, "")
}

func TestNumberInt64(t *testing.T) {
	s := mustSerde(t, Number, "", serdeOptions{})
	for _, in := range []any{int64(-2), 7, uint8(200), int32(math.MinInt32), int64(math.MaxInt64), float64(3), json.Number("12")} {
		out, err := s.encode(in)
		if err != nil || len(out) != 8 {
			t.Fatalf("encode %v: %x %v", in, out, err)
		}
		want, _ := toInt64(in)
		if got := int64(binary.BigEndian.Uint64(out)); got != want {
			t.Fatalf("encode %v: big-endian value %d", in, got)
		}
		v, err := s.decode(out)
		if err != nil || v != want {
			t.Fatalf("decode %x: %v %v, want %d", out, v, err, want)
		}
	}
	// 4 bytes are an int32.
	if v, err := s.decode([]byte{0xff, 0xff, 0xff, 0xfe}); err != nil || v != int64(-2) {
		t.Fatalf("decode 4 bytes: %v %v", v, err)
	}
	// JSON text written by the Rust runtime.
	for in, want := range map[string]any{"42": int64(42), "-7": int64(-7), "23.25": 23.25, "1e3": 1000.0} {
		if v, err := s.decode([]byte(in)); err != nil || v != want {
			t.Fatalf("decode %q: %v %v, want %v", in, v, err, want)
		}
	}
	for _, in := range [][]byte{nil, {1}, {1, 2, 3}, []byte("abcdefghi"), []byte("nope!")} {
		_, err := s.decode(in)
		wantInvalid(t, err, "")
	}
	for _, in := range []any{1.5, uint64(math.MaxUint64), math.Inf(1), "3", nil, float64(1 << 63)} {
		_, err := s.encode(in)
		wantInvalid(t, err, "")
	}
	var i16 int16
	if err := s.decodeInto([]byte{0, 0, 0, 0, 0, 0, 1, 0}, &i16); err != nil || i16 != 256 {
		t.Fatalf("decodeInto int16: %d %v", i16, err)
	}
	var i8 int8
	wantInvalid(t, s.decodeInto([]byte{0, 0, 0, 0, 0, 0, 1, 0}, &i8), "overflows")
}

func TestNumberFloat64(t *testing.T) {
	s := mustSerde(t, Number, "", serdeOptions{number: NumberFloat64})
	for _, in := range []any{23.5, float32(-1.25), 7, math.Inf(-1), json.Number("0.1")} {
		out, err := s.encode(in)
		if err != nil || len(out) != 8 {
			t.Fatalf("encode %v: %v", in, err)
		}
		want, _ := toFloat64(in)
		if got := math.Float64frombits(binary.BigEndian.Uint64(out)); got != want {
			t.Fatalf("encode %v: %v", in, got)
		}
		if v, err := s.decode(out); err != nil || v != want {
			t.Fatalf("decode: %v %v", v, err)
		}
	}
	if v, err := s.decode(binary.BigEndian.AppendUint32(nil, math.Float32bits(1.5))); err != nil || v != 1.5 {
		t.Fatalf("decode float32: %v %v", v, err)
	}
	_, err := s.encode(int64(1<<53 + 1))
	wantInvalid(t, err, "exactly")
	var f float32
	if err := s.decodeInto(binary.BigEndian.AppendUint64(nil, math.Float64bits(2.5)), &f); err != nil || f != 2.5 {
		t.Fatalf("decodeInto float32: %v %v", f, err)
	}
}

const orderSchema = `{
  "type": "object",
  "properties": {
    "id":  {"type": "string"},
    "qty": {"type": "integer", "minimum": 1},
    "tags": {"type": "array", "items": {"type": "string"}}
  },
  "required": ["id", "qty"]
}`

type order struct {
	ID   string   `json:"id"`
	Qty  int      `json:"qty"`
	Tags []string `json:"tags,omitempty"`
}

func TestJSONSchema(t *testing.T) {
	s := mustSerde(t, JSONSchema, orderSchema, serdeOptions{validate: true})
	out, err := s.encode(order{ID: "a", Qty: 2})
	if err != nil || string(out) != `{"id":"a","qty":2}` {
		t.Fatalf("encode struct: %s %v", out, err)
	}
	v, err := s.decode(out)
	if err != nil || !reflect.DeepEqual(v, map[string]any{"id": "a", "qty": 2.0}) {
		t.Fatalf("decode: %#v %v", v, err)
	}
	var o order
	if err := s.decodeInto(out, &o); err != nil || o.ID != "a" || o.Qty != 2 {
		t.Fatalf("decodeInto: %+v %v", o, err)
	}
	// JSON text passes through unchanged once valid.
	raw := []byte(`{ "id": "b", "qty": 5 }`)
	if out, err := s.encode(raw); err != nil || &out[0] != &raw[0] {
		t.Fatalf("encode raw: %v", err)
	}
	if out, err := s.encode(map[string]any{"id": "c", "qty": 1, "tags": []any{"x"}}); err != nil || string(out) != `{"id":"c","qty":1,"tags":["x"]}` {
		t.Fatalf("encode map: %s %v", out, err)
	}
	_, err = s.encode(order{ID: "a", Qty: 0})
	wantInvalid(t, err, `"/qty"`)
	_, err = s.encode(map[string]any{"id": "a", "qty": 1, "tags": []any{"x", 2}})
	wantInvalid(t, err, `"/tags/1"`)
	_, err = s.decode([]byte(`{"qty": 3}`))
	wantInvalid(t, err, "id")
	_, err = s.decode([]byte(`{"id": "a", "qty": "3"}`))
	wantInvalid(t, err, `"/qty"`)
	_, err = s.decode([]byte(`{"id": `))
	wantInvalid(t, err, "JSON")
	wantInvalid(t, s.decodeInto([]byte(`{"id": 1, "qty": 1}`), &o), "/id")
	// Without validation, only JSON syntax is checked.
	lax := mustSerde(t, JSONSchema, orderSchema, serdeOptions{})
	if _, err := lax.decode([]byte(`{"qty": "x"}`)); err != nil {
		t.Fatalf("decode without validation: %v", err)
	}
}

func TestJSONSchemaRefusesExternalRefs(t *testing.T) {
	_, err := newSerde(JSONSchema, []byte(`{"$ref": "file:///etc/passwd"}`), serdeOptions{})
	if err == nil {
		t.Fatal("compiled a schema with an external reference")
	}
}

const userSchema = `{
  "type": "record", "name": "UserEvent", "namespace": "com.example.events",
  "fields": [
    {"name": "user_id", "type": "string"},
    {"name": "action", "type": {"type": "enum", "name": "Action", "symbols": ["login", "logout"]}},
    {"name": "timestamp", "type": "long"},
    {"name": "score", "type": "double", "default": 0},
    {"name": "metadata", "type": ["null", "string"], "default": null},
    {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    {"name": "attrs", "type": {"type": "map", "values": "int"}, "default": {}},
    {"name": "raw", "type": "bytes", "default": ""}
  ]
}`

type userEvent struct {
	UserID    string         `avro:"user_id" json:"user_id"`
	Action    string         `avro:"action" json:"action"`
	Timestamp int64          `avro:"timestamp" json:"timestamp"`
	Score     float64        `avro:"score" json:"score"`
	Metadata  *string        `avro:"metadata" json:"metadata"`
	Tags      []string       `avro:"tags" json:"tags"`
	Attrs     map[string]int `avro:"attrs" json:"attrs"`
	Raw       []byte         `avro:"raw" json:"raw"`
}

func sampleUser() userEvent {
	meta := "session-1"
	return userEvent{UserID: "u1", Action: "login", Timestamp: 1700000000123, Score: 1.5, Metadata: &meta,
		Tags: []string{"a", "b"}, Attrs: map[string]int{"n": 3}, Raw: []byte{0, 1, 255}}
}

func sampleUserNative() map[string]any {
	return map[string]any{
		"user_id": "u1", "action": "login", "timestamp": int64(1700000000123), "score": 1.5,
		"metadata": map[string]any{"string": "session-1"}, "tags": []any{"a", "b"},
		"attrs": map[string]any{"n": 3}, "raw": []byte{0, 1, 255},
	}
}

func TestAvroEncodingsRoundTrip(t *testing.T) {
	for _, enc := range []AvroEncoding{AvroOCF, AvroBinary, AvroJSON} {
		t.Run(enc.String(), func(t *testing.T) {
			s := mustSerde(t, Avro, userSchema, serdeOptions{avro: enc, validate: true})
			for name, in := range map[string]any{"struct": sampleUser(), "pointer": ptr(sampleUser()), "native": sampleUserNative()} {
				out, err := s.encode(in)
				if err != nil {
					t.Fatalf("%s: encode: %v", name, err)
				}
				switch enc {
				case AvroOCF:
					if !bytes.HasPrefix(out, []byte("Obj\x01")) {
						t.Fatalf("%s: not an object container: %q", name, out[:8])
					}
				case AvroJSON:
					if !json.Valid(out) {
						t.Fatalf("%s: not JSON: %s", name, out)
					}
				}
				v, err := s.decode(out)
				if err != nil {
					t.Fatalf("%s: decode: %v", name, err)
				}
				if !reflect.DeepEqual(v, sampleUserNative()) {
					t.Fatalf("%s: decode = %#v\nwant %#v", name, v, sampleUserNative())
				}
				var u userEvent
				if err := s.decodeInto(out, &u); err != nil {
					t.Fatalf("%s: decodeInto: %v", name, err)
				}
				if !reflect.DeepEqual(u, sampleUser()) {
					t.Fatalf("%s: decodeInto = %+v", name, u)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestAvroReadsRustJSON(t *testing.T) {
	// What the Rust connect runtime publishes for "avro": serde_json text of
	// the struct, unions unwrapped, no defaults filled in.
	s := mustSerde(t, Avro, userSchema, serdeOptions{validate: true})
	rust := []byte(`{"user_id":"u2","action":"logout","timestamp":1700000000000,"metadata":null}`)
	v, err := s.decode(rust)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"user_id": "u2", "action": "logout", "timestamp": int64(1700000000000), "score": 0.0,
		"metadata": nil, "tags": []any{}, "attrs": map[string]any{}, "raw": []byte{}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decode = %#v\nwant %#v", v, want)
	}
	var u userEvent
	if err := s.decodeInto(rust, &u); err != nil || u.UserID != "u2" || u.Metadata != nil {
		t.Fatalf("decodeInto: %+v %v", u, err)
	}
	_, err = s.decode([]byte(`{"user_id":"u2","action":"jump","timestamp":1}`))
	wantInvalid(t, err, `"/action"`)
	_, err = s.decode([]byte(`{"user_id":"u2","action":"login","timestamp":1.5}`))
	wantInvalid(t, err, `"/timestamp"`)
	_, err = s.decode([]byte(`{"action":"login","timestamp":1}`))
	wantInvalid(t, err, `missing field "user_id"`)
}

func TestAvroObjectContainerInterop(t *testing.T) {
	s := mustSerde(t, Avro, userSchema, serdeOptions{validate: true}).(*avroSerde)
	// Ours → hamba/avro's container reader.
	out, err := s.encode(sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	dec, err := ocf.NewDecoder(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("hamba ocf reader rejects our container: %v", err)
	}
	var u userEvent
	if !dec.HasNext() || dec.Decode(&u) != nil || dec.HasNext() || !reflect.DeepEqual(u, sampleUser()) {
		t.Fatalf("hamba ocf reader: %+v %v", u, dec.Error())
	}
	// hamba/avro's container writer (null and deflate) → ours.
	for _, codec := range []ocf.CodecName{ocf.Null, ocf.Deflate} {
		var buf bytes.Buffer
		enc, err := ocf.NewEncoder(userSchema, &buf, ocf.WithCodec(codec))
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(sampleUser()); err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		v, err := s.decode(buf.Bytes())
		if err != nil || !reflect.DeepEqual(v, sampleUserNative()) {
			t.Fatalf("codec %s: %#v %v", codec, v, err)
		}
		var u userEvent
		if err := s.decodeInto(buf.Bytes(), &u); err != nil || !reflect.DeepEqual(u, sampleUser()) {
			t.Fatalf("codec %s: decodeInto %+v %v", codec, u, err)
		}
	}
	// Two datums in one message are refused.
	var buf bytes.Buffer
	enc, _ := ocf.NewEncoder(userSchema, &buf)
	_ = enc.Encode(sampleUser())
	_ = enc.Encode(sampleUser())
	_ = enc.Close()
	_, err = s.decode(buf.Bytes())
	wantInvalid(t, err, "more than one datum")
	// A container written with another (older) writer schema is resolved
	// into the registered schema: missing fields take their defaults.
	older := `{"type":"record","name":"UserEvent","namespace":"com.example.events","fields":[
		{"name":"user_id","type":"string"},{"name":"action","type":"string"},{"name":"timestamp","type":"long"},
		{"name":"dropped","type":"int"}]}`
	buf.Reset()
	enc, _ = ocf.NewEncoder(older, &buf)
	_ = enc.Encode(map[string]any{"user_id": "old", "action": "logout", "timestamp": int64(5), "dropped": 1})
	_ = enc.Close()
	v, err := s.decode(buf.Bytes())
	want := map[string]any{"user_id": "old", "action": "logout", "timestamp": int64(5), "score": 0.0,
		"metadata": nil, "tags": []any{}, "attrs": map[string]any{}, "raw": []byte{}}
	if err != nil || !reflect.DeepEqual(v, want) {
		t.Fatalf("older writer: %#v %v", v, err)
	}
	var old userEvent
	if err := s.decodeInto(buf.Bytes(), &old); err != nil || old.UserID != "old" || old.Action != "logout" {
		t.Fatalf("older writer into struct: %+v %v", old, err)
	}
	// A writer schema that cannot resolve is invalid data.
	buf.Reset()
	enc, _ = ocf.NewEncoder(`{"type":"record","name":"Other","fields":[{"name":"user_id","type":"string"}]}`, &buf)
	_ = enc.Encode(map[string]any{"user_id": "x"})
	_ = enc.Close()
	_, err = s.decode(buf.Bytes())
	wantInvalid(t, err, `missing field "action"`)
	// Corruption anywhere is invalid data, never a panic.
	for i := range out {
		bad := append([]byte(nil), out...)
		bad[i] ^= 0x55
		if _, err := s.decode(bad); err != nil && !errors.Is(err, ErrInvalidPayload) {
			t.Fatalf("flip byte %d: unclassified error %v", i, err)
		}
	}
	for n := range len(out) {
		if _, err := s.decode(out[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: decoded", n)
		}
	}
}

func TestAvroBinaryStrict(t *testing.T) {
	s := mustSerde(t, Avro, userSchema, serdeOptions{avro: AvroBinary, validate: true})
	out, err := s.encode(sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := avro.Marshal(avro.MustParse(userSchema), sampleUser())
	if !bytes.Equal(out, ref) {
		t.Fatalf("binary differs from hamba/avro: %x vs %x", out, ref)
	}
	_, err = s.decode(append(out, 0))
	wantInvalid(t, err, "trailing")
	for n := range len(out) {
		_, err := s.decode(out[:n])
		wantInvalid(t, err, "")
	}
	var u userEvent
	wantInvalid(t, s.decodeInto(out[:len(out)-1], &u), "")
	// A huge array count over few bytes fails at once.
	arr := mustSerde(t, Avro, `{"type":"array","items":"long"}`, serdeOptions{})
	_, err = arr.decode([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0})
	wantInvalid(t, err, "items")
	nulls := mustSerde(t, Avro, `{"type":"array","items":"null"}`, serdeOptions{})
	_, err = nulls.decode([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0})
	wantInvalid(t, err, "take no bytes")
	if v, err := nulls.decode([]byte{6, 0}); err != nil || !reflect.DeepEqual(v, []any{nil, nil, nil}) {
		t.Fatalf("three nulls: %v %v", v, err)
	}
}

func TestAvroEncodeInvalid(t *testing.T) {
	s := mustSerde(t, Avro, userSchema, serdeOptions{validate: true})
	cases := map[string]any{
		`"/user_id"`:  map[string]any{"user_id": 5, "action": "login", "timestamp": 1},
		`"/action"`:   map[string]any{"user_id": "u", "action": "fly", "timestamp": 1},
		"timestamp":   map[string]any{"user_id": "u", "action": "login"},
		`"/tags/1"`:   map[string]any{"user_id": "u", "action": "login", "timestamp": 1, "tags": []any{"a", 1}},
		`"/metadata"`: map[string]any{"user_id": "u", "action": "login", "timestamp": 1, "metadata": 3},
		"want record": "not a record",
		"missing field": struct {
			UserID string `avro:"user_id"`
		}{"u"},
	}
	for want, in := range cases {
		_, err := s.encode(in)
		wantInvalid(t, err, "")
		if want != "missing field" && !strings.Contains(err.Error(), want) {
			t.Errorf("encode %v: %q does not mention %s", in, err, want)
		}
	}
	// JSON numbers from encoding/json (float64) are accepted where integral.
	var generic any
	_ = json.Unmarshal([]byte(`{"user_id":"u","action":"login","timestamp":1700000000000,"tags":["x"],"attrs":{"a":1}}`), &generic)
	if _, err := s.encode(generic); err != nil {
		t.Fatalf("encode generic JSON: %v", err)
	}
	if _, err := s.encode(json.RawMessage(`{"user_id":"u","action":"login","timestamp":9007199254740993}`)); err != nil {
		t.Fatalf("encode raw JSON: %v", err)
	}
}

func TestAvroLogicalTypes(t *testing.T) {
	def := `{"type":"record","name":"L","fields":[
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"day","type":{"type":"int","logicalType":"date"}},
		{"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
		{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
		{"name":"id","type":{"type":"fixed","name":"Id","size":4}},
		{"name":"opt","type":["null",{"type":"long","logicalType":"timestamp-millis"}]}
	]}`
	ts := time.UnixMilli(1700000000123).UTC()
	in := map[string]any{"ts": ts, "us": ts, "day": ts.Truncate(24 * time.Hour), "tm": 1500 * time.Millisecond,
		"price": "12.34", "id": []byte{1, 2, 3, 4}, "opt": ts}
	for _, enc := range []AvroEncoding{AvroOCF, AvroBinary, AvroJSON} {
		s := mustSerde(t, Avro, def, serdeOptions{avro: enc, validate: true})
		out, err := s.encode(in)
		if err != nil {
			t.Fatalf("%s: encode: %v", enc, err)
		}
		v, err := s.decode(out)
		if err != nil {
			t.Fatalf("%s: decode: %v", enc, err)
		}
		m := v.(map[string]any)
		if !m["ts"].(time.Time).Equal(ts) || m["tm"] != 1500*time.Millisecond || m["id"] != [4]byte{1, 2, 3, 4} {
			t.Fatalf("%s: %#v", enc, m)
		}
		if r := m["price"].(interface{ FloatString(int) string }); r.FloatString(2) != "12.34" {
			t.Fatalf("%s: price %v", enc, m["price"])
		}
		if opt := m["opt"].(map[string]any)["long.timestamp-millis"].(time.Time); !opt.Equal(ts) {
			t.Fatalf("%s: opt %v", enc, m["opt"])
		}
	}
}

func TestProtobufPassThrough(t *testing.T) {
	s := mustSerde(t, Protobuf, "syntax = \"proto3\";", serdeOptions{})
	in := []byte{8, 150, 1}
	out, err := s.encode(in)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatal(err)
	}
	if v, err := s.decode(in); err != nil || !bytes.Equal(v.([]byte), in) {
		t.Fatal(err)
	}
}

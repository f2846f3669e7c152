package connect

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestJSONHelper(t *testing.T) {
	type order struct {
		ID  int    `json:"id"`
		SKU string `json:"sku"`
	}
	rec := SinkRecord{PartitionTopic: "/d/o", Payload: []byte(`{"id":7,"sku":"x"}`)}
	got, err := JSON[order](rec)
	if err != nil || got != (order{7, "x"}) {
		t.Fatalf("JSON = %+v, %v", got, err)
	}
	rec.Payload = []byte(`{"id":`)
	if _, err := JSON[order](rec); ClassOf(err) != ClassInvalidData {
		t.Fatalf("malformed JSON must be InvalidData, got %v", err)
	}
	if rec.Text() != `{"id":` {
		t.Fatalf("Text = %q", rec.Text())
	}
}

func TestSourceRecordConstructors(t *testing.T) {
	tests := []struct {
		name string
		rec  SourceRecord
		want string
	}{
		{"bytes", NewRecord("/d/t", []byte{1, 2}), "\x01\x02"},
		{"text", NewTextRecord("/d/t", "hello"), "hello"},
		{"int", NewNumberRecord("/d/t", -42), "-42"},
		{"uint64 max", NewNumberRecord("/d/t", uint64(1<<64-1)), "18446744073709551615"},
		{"float64", NewNumberRecord("/d/t", 3.5), "3.5"},
		{"float32", NewNumberRecord("/d/t", float32(0.1)), "0.1"},
		{"named float", NewNumberRecord("/d/t", celsius(21.5)), "21.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.rec.Payload) != tt.want || tt.rec.Topic != "/d/t" {
				t.Fatalf("payload %q topic %q, want %q", tt.rec.Payload, tt.rec.Topic, tt.want)
			}
		})
	}
	r, err := NewJSONRecord("/d/t", map[string]int{"a": 1})
	if err != nil || string(r.Payload) != `{"a":1}` {
		t.Fatalf("NewJSONRecord = %q, %v", r.Payload, err)
	}
	if _, err := NewJSONRecord("/d/t", make(chan int)); ClassOf(err) != ClassInvalidData {
		t.Fatalf("unencodable value must be InvalidData, got %v", err)
	}
	v := NewValueRecord("/d/t", 5)
	if v.Value != 5 || v.Payload != nil {
		t.Fatalf("NewValueRecord = %+v", v)
	}
}

type celsius float64

func TestSourceRecordWithCopies(t *testing.T) {
	base := NewTextRecord("/d/t", "x").WithAttribute("a", "1")
	a := base.WithAttribute("b", "2").WithKey("k").WithOffset("p", "9")
	if _, ok := base.Attributes["b"]; ok {
		t.Fatal("WithAttribute modified the original record's map")
	}
	if a.Attributes["a"] != "1" || a.Attributes["b"] != "2" || a.Key != "k" || a.Offset != (SourceOffset{"p", "9"}) {
		t.Fatalf("record = %+v", a)
	}
}

func TestRecordID(t *testing.T) {
	tests := []struct {
		conn string
		off  SourceOffset
		want string
	}{
		{"gen", SourceOffset{}, ""},
		{"gen", SourceOffset{"p0", "17"}, "gen/p0/17"},
		{"gen", SourceOffset{"", "17"}, "gen//17"},
		{"a/b", SourceOffset{"/var/log%x", "1"}, "a%2Fb/%2Fvar%2Flog%25x/1"},
	}
	for _, tt := range tests {
		if got := RecordID(tt.conn, tt.off); got != tt.want {
			t.Errorf("RecordID(%q, %v) = %q, want %q", tt.conn, tt.off, got, tt.want)
		}
	}
}

func TestSinkRecordIDFallsBackToBrokerPosition(t *testing.T) {
	rec := SinkRecord{Topic: "/default/o", Partition: 1, PartitionTopic: "/default/o-part-1", Offset: 42}
	if got := rec.RecordID(); got != "/default/o-part-1#42" {
		t.Fatalf("RecordID = %q", got)
	}
	redelivered := rec
	redelivered.Attempt = 3
	if redelivered.RecordID() != rec.RecordID() {
		t.Fatal("id changed on redelivery")
	}
	other := rec
	other.Offset = 43
	if other.RecordID() == rec.RecordID() {
		t.Fatal("two offsets share an id")
	}
	rec.Attributes = map[string]string{AttrRecordID: "gen/p0/7"}
	if got := rec.RecordID(); got != "gen/p0/7" {
		t.Fatalf("RecordID with x-record-id = %q", got)
	}
}

func TestDLQAttributes(t *testing.T) {
	rec := SinkRecord{
		Topic: "/d/orders", Partition: 2, PartitionTopic: "/d/orders-part-2", Offset: 41,
		Attributes: map[string]string{"user": "u", AttrOriginalPartition: "stale"}, Attempt: 3,
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	d := &deadLetters{connector: "conn"}
	m := d.attributes(rec.Attributes, sinkOrigin(&rec, "sub"), ClassInvalidData, errors.New(strings.Repeat("e", 2000)), now)
	want := map[string]string{
		"user":                   "u",
		AttrOriginalTopic:        "/d/orders-part-2",
		AttrOriginalSubscription: "sub",
		AttrOriginalOffset:       "41",
		AttrOriginalPartition:    "2",
		AttrDeliveryAttempt:      "3",
		AttrConnector:            "conn",
		AttrErrorClass:           "invalid_data",
		AttrFailedAt:             "2026-01-02T02:04:05Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if len(m[AttrFailureReason]) > maxReasonLen+4 {
		t.Errorf("failure reason not bounded: %d bytes", len(m[AttrFailureReason]))
	}
	if len(rec.Attributes) != 2 {
		t.Error("original attributes modified")
	}
	rec.Partition = -1
	if _, ok := d.attributes(rec.Attributes, sinkOrigin(&rec, "s"), ClassRetryable, nil, now)[AttrOriginalPartition]; ok {
		t.Error("non-partitioned record must not carry x-original-partition")
	}
	// A source's copy: the same set and truncation, without what only a
	// consumed message has.
	src := d.attributes(map[string]string{"user": "u"}, dlqOrigin{topic: "/d/out", partition: -1, recordID: "c/p0/7"},
		ClassInvalidData, errors.New(strings.Repeat("é", 2000)), now)
	for _, k := range []string{AttrOriginalSubscription, AttrOriginalOffset, AttrOriginalPartition, AttrDeliveryAttempt} {
		if _, ok := src[k]; ok {
			t.Errorf("source copy carries %s", k)
		}
	}
	if src[AttrRecordID] != "c/p0/7" || src[AttrConnector] != "conn" || src[AttrOriginalTopic] != "/d/out" {
		t.Errorf("source copy attributes %v", src)
	}
	if r := src[AttrFailureReason]; len(r) > maxReasonLen+4 || !utf8.ValidString(r) || !strings.HasSuffix(r, "…") {
		t.Errorf("source failure reason not truncated like the sink's: %d bytes", len(r))
	}
	if got := DefaultDLQTopic("/d/orders-part-3"); got != "/d/orders-dlq" {
		t.Errorf("DefaultDLQTopic = %q", got)
	}
}

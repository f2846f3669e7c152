package postgres

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/danube-connect/connect"
)

func TestMergeSpans(t *testing.T) {
	for _, tc := range []struct {
		spans []span
		offs  []int64
		want  []span
	}{
		{nil, []int64{3, 1, 2}, []span{{1, 3}}},
		{[]span{{0, 9}}, []int64{10, 11}, []span{{0, 11}}},
		{[]span{{0, 9}, {20, 29}}, []int64{15}, []span{{0, 9}, {15, 15}, {20, 29}}},
		{[]span{{0, 9}, {11, 29}}, []int64{10}, []span{{0, 29}}},
		{[]span{{5, 9}}, []int64{7, 2}, []span{{2, 2}, {5, 9}}},
	} {
		if got := mergeSpans(tc.spans, tc.offs); !slices.Equal(got, tc.want) {
			t.Errorf("mergeSpans(%v, %v) = %v, want %v", tc.spans, tc.offs, got, tc.want)
		}
	}
}

func TestCopyText(t *testing.T) {
	got := string(appendCopyText(nil, rowValues{[]byte("a\tb\nc\\d\re"), nil, []byte(""), []byte(`\N`)}))
	want := "a\\tb\\nc\\\\d\\re\t\\N\t\t\\\\N\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestText(t *testing.T) {
	r, _ := new(big.Rat).SetString("12.340")
	for _, tc := range []struct {
		v    any
		want string
	}{
		{1e6, "1000000"},
		{float32(0.5), "0.5"},
		{int64(-3), "-3"},
		{true, "true"},
		{r, "12.34"},
		{[]byte{0xde, 0xad}, `\xdead`},
		{[2]byte{1, 2}, `\x0102`},
		{time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600)), "2026-01-02T02:04:05.000006Z"},
		{90 * time.Second, "90000000 microseconds"},
		{map[string]any{"a": []any{1.0, "x"}}, `{"a":[1,"x"]}`},
	} {
		got, err := text(tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("text(%v) = %q, %v; want %q", tc.v, got, err, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for code, want := range map[string]connect.Class{
		"08006": connect.ClassRetryable, // connection failure
		"40001": connect.ClassRetryable, // serialization failure
		"40P01": connect.ClassRetryable, // deadlock
		"53300": connect.ClassRetryable, // too many connections
		"55P03": connect.ClassRetryable, // lock not available
		"57P01": connect.ClassRetryable, // admin shutdown
		"58030": connect.ClassRetryable, // io error
		"23505": connect.ClassInvalidData,
		"22P02": connect.ClassInvalidData,
		"42P01": connect.ClassFatal, // table dropped while running
		"XX000": connect.ClassRetryable,
	} {
		err := classify("write", fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "m"}))
		if got := connect.ClassOf(err); got != want {
			t.Errorf("SQLSTATE %s: %s, want %s", code, got, want)
		}
	}
	if got := connect.ClassOf(classify("write", io.ErrUnexpectedEOF)); got != connect.ClassRetryable {
		t.Errorf("network error: %s", got)
	}
	if !rowLevel(&pgconn.PgError{Code: "23514"}) || rowLevel(&pgconn.PgError{Code: "40001"}) || rowLevel(errors.New("x")) {
		t.Error("rowLevel")
	}
}

func TestColumnsValidation(t *testing.T) {
	for _, tc := range []Table{
		{Table: "t", Mode: "insert"},
		{Table: "t", Mode: "insert", Columns: map[string]string{"a": "@nope"}},
		{Table: "t", Mode: "insert", Columns: map[string]string{"a": "x..y"}},
		{Table: "t", Mode: "upsert", Columns: map[string]string{"a": "a"}},
		{Table: "t", Mode: "jsonb", PayloadColumn: "p", Columns: map[string]string{"a": "field"}},
	} {
		if _, err := tc.columns(); err == nil {
			t.Errorf("%+v: no error", tc)
		}
	}
	cols, err := (&Table{Table: "t", Mode: "insert", Columns: map[string]string{"b": "x.y::numeric", "a": "@offset"}}).columns()
	if err != nil || len(cols) != 2 || cols[0].typ != "bigint" || cols[1].typ != "numeric" || !slices.Equal(cols[1].path, []string{"x", "y"}) {
		t.Fatalf("%+v %v", cols, err)
	}
}

func TestValuesFromJSON(t *testing.T) {
	tbl := &Table{Table: "t", Mode: "insert", Columns: map[string]string{
		"a": "a*b.c", "b": "s", "c": "missing.x", "d": "obj", "e": "n", "f": "nul", "g": "arr.1", "h": "t"}}
	cols, err := tbl.columns()
	if err != nil {
		t.Fatal(err)
	}
	tt := &table{cols: cols}
	rec := connect.SinkRecord{Payload: []byte(`{"a*b":{"c":1.50},"s":"x\ty\u00e9","obj":{"k":[1, 2]},"n":-12e3,"nul":null,"arr":[10,20],"t":true}`)}
	vals, err := tt.values(&rec)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for i, c := range cols {
		if vals[i] == nil {
			got[c.name] = "NULL"
		} else {
			got[c.name] = string(vals[i])
		}
	}
	want := map[string]string{"a": "1.50", "b": "x\tyé", "c": "NULL", "d": `{"k":[1, 2]}`, "e": "-12e3", "f": "NULL", "g": "20", "h": "true"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("column %s = %q, want %q", k, got[k], v)
		}
	}
	rec.Payload = []byte(`{"a*b":`)
	if _, err := tt.values(&rec); err == nil {
		t.Error("invalid JSON accepted")
	}
}

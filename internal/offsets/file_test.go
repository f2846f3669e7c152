package offsets

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		offs map[string]string
	}{
		{"nil", nil},
		{"empty", map[string]string{}},
		{"several", map[string]string{"p0": "12", "file:/var/log/a": "99812", "ünï": "\"quoted\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode("gen", tt.offs)
			if err != nil {
				t.Fatal(err)
			}
			name, got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if name != "gen" || got == nil || !maps.Equal(got, tt.offs) {
				t.Fatalf("Decode = %q %v, want gen %v", name, got, tt.offs)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"not json", "hello"},
		{"wrong version", `{"version":2,"offsets":{}}`},
		{"missing version", `{"offsets":{}}`},
		{"unknown field", `{"version":1,"offsets":{},"x":1}`},
		{"trailing", `{"version":1,"offsets":{}} {}`},
		{"bad offsets type", `{"version":1,"offsets":{"a":1}}`},
		{"invalid utf8", "{\"version\":1,\"offsets\":{\"\xff\":\"1\"}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Decode([]byte(tt.in)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode(%q) = %v, want ErrCorrupt", tt.in, err)
			}
		})
	}
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "c.json")
	for _, content := range []string{"one", "two"} {
		if err := WriteFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

// FuzzDecode checks the offset file decoder on arbitrary bytes. Invariants:
// Decode never panics; when it accepts a file, the result is non-nil, and
// encoding it and decoding again yields the same connector and offsets.
func FuzzDecode(f *testing.F) {
	seed, _ := Encode("gen", map[string]string{"p0": "1", "p1": "2"})
	f.Add(seed)
	f.Add([]byte(`{"version":1,"connector":"","offsets":{}}`))
	f.Add([]byte(`{"version":1,"offsets":null}`))
	f.Add([]byte(`{"version":1,"offsets":{"a":"\u0000"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		name, offs, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not match ErrCorrupt: %v", err)
			}
			return
		}
		if offs == nil {
			t.Fatal("accepted file decoded to nil offsets")
		}
		b, err := Encode(name, offs)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		name2, offs2, err := Decode(b)
		if err != nil || name2 != name || !maps.Equal(offs, offs2) {
			t.Fatalf("round trip: %q %v %v, want %q %v", name2, offs2, err, name, offs)
		}
	})
}

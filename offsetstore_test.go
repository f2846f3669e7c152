package connect_test

import (
	"maps"
	"os"
	"testing"

	"github.com/danube-connect/connect"
)

func TestOffsetStores(t *testing.T) {
	stores := map[string]connect.OffsetStore{
		"file":   connect.NewFileOffsetStore(t.TempDir()),
		"memory": &connect.MemoryOffsetStore{},
	}
	for name, s := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			got, err := s.Load(ctx, "gen/1")
			if err != nil || len(got) != 0 {
				t.Fatalf("first Load = %v, %v; want empty", got, err)
			}
			want := connect.Offsets{"p0": "10", "p1": "x"}
			if err := s.Save(ctx, "gen/1", want); err != nil {
				t.Fatal(err)
			}
			want["p0"] = "mutated after save"
			got, err = s.Load(ctx, "gen/1")
			if err != nil || !maps.Equal(got, connect.Offsets{"p0": "10", "p1": "x"}) {
				t.Fatalf("Load = %v, %v", got, err)
			}
		})
	}
}

func TestFileOffsetStoreCorrupt(t *testing.T) {
	s := connect.NewFileOffsetStore(t.TempDir())
	if err := os.WriteFile(s.Path("gen"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), "gen"); connect.ClassOf(err) != connect.ClassFatal {
		t.Fatalf("Load of a corrupt file = %v, want a fatal error", err)
	}
}

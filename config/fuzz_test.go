package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/danube-connect/connect/config"
)

// FuzzParseDocument feeds arbitrary files to the loader: it must never
// panic, every failure is an error naming what was wrong, and a document
// that loads dumps to a file that loads back to the same dump.
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(minimal), false)
	f.Add([]byte("connector: demo\nconnector_name: c\ndemo:\n  endpoint: x\n  tags: [a, b]\n"), true)
	f.Add([]byte("connector_name = \"${NAME:-c}\"\nconnector = \"demo\"\n[demo]\nendpoint = \"e\"\n[[schemas]]\ntopic = \"/default/t\"\nsubject = \"s\"\nschema_type = \"string\"\n"), false)
	files, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*.toml"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, false)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		format := config.TOML
		if yaml {
			format = config.YAML
		}
		doc, err := config.ParseDocument("fuzz", data, format, demoCatalog{}, config.Options{Env: []string{"NAME=n"}})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			var ce *config.Error
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					if p.Path == "" || p.Msg == "" {
						t.Fatalf("problem without key or message: %#v", p)
					}
				}
			}
			return
		}
		dump := doc.Dump()
		again, err := config.ParseDocument("dump.toml", []byte(dump), config.TOML, demoCatalog{}, config.Options{})
		if err != nil {
			t.Fatalf("dump does not load back: %v\n%s", err, dump)
		}
		if d2 := again.Dump(); d2 != dump {
			t.Fatalf("dump not stable:\n%s\n---\n%s", dump, d2)
		}
	})
}

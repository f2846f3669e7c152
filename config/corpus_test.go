package config_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors"
)

// CorpusWant returns the expected error of a malformed config file: its
// first line is "# want: <text the error must contain>".
func corpusWant(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	want, ok := strings.CutPrefix(sc.Text(), "# want: ")
	if !ok || want == "" {
		t.Fatalf("%s: first line must be \"# want: …\"", path)
	}
	return want
}

func TestInvalidCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*")
	if len(files) < 30 {
		t.Fatalf("corpus has %d files, want at least 30", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := corpusWant(t, path)
			_, err := config.LoadDocument(path, connectors.Catalog(), config.Options{})
			if err == nil {
				t.Fatalf("loaded without error; want %q", want)
			}
			if !strings.Contains(err.Error(), path+": "+want) {
				t.Fatalf("error:\n%v\nwant a line containing %q", err, want)
			}
		})
	}
}

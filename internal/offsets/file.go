package offsets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// FormatVersion is the version of the offset file format written by Encode.
const FormatVersion = 1

// MaxFileSize bounds the offset file Decode accepts (16 MiB).
const MaxFileSize = 16 << 20

// ErrCorrupt is matched (errors.Is) by every Decode error about the file's
// content.
var ErrCorrupt = errors.New("offsets: corrupt offset file")

type fileV1 struct {
	Version   int               `json:"version"`
	Connector string            `json:"connector"`
	Offsets   map[string]string `json:"offsets"`
}

// Encode renders the offset file of a connector: a small JSON document
// {"version":1,"connector":…,"offsets":{partition: position}} ending in a
// newline, readable and editable by people in an emergency.
func Encode(connector string, offs map[string]string) ([]byte, error) {
	if offs == nil {
		offs = map[string]string{}
	}
	b, err := json.MarshalIndent(fileV1{Version: FormatVersion, Connector: connector, Offsets: offs}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode offsets: %w", err)
	}
	return append(b, '\n'), nil
}

// Decode parses an offset file. It never panics; it rejects files larger
// than MaxFileSize, unknown fields, versions other than 1, invalid UTF-8 and
// trailing data, with errors matching ErrCorrupt. A valid file decodes to
// the connector name and a non-nil map.
func Decode(data []byte) (connector string, offs map[string]string, err error) {
	if len(data) > MaxFileSize {
		return "", nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrCorrupt, len(data), MaxFileSize)
	}
	if !utf8.Valid(data) {
		return "", nil, fmt.Errorf("%w: not UTF-8", ErrCorrupt)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileV1
	if err := dec.Decode(&f); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if dec.More() {
		return "", nil, fmt.Errorf("%w: trailing data", ErrCorrupt)
	}
	if f.Version != FormatVersion {
		return "", nil, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, f.Version, FormatVersion)
	}
	if f.Offsets == nil {
		f.Offsets = map[string]string{}
	}
	return f.Connector, f.Offsets, nil
}

// WriteFile replaces path with data atomically and durably: it writes a
// temporary file in the same directory, fsyncs it, renames it over path and
// fsyncs the directory. A crash leaves either the old or the new content.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create offset directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary offset file: %w", err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write offset file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync offset file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close offset file: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("replace offset file: %w", err)
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open offset directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync offset directory: %w", err)
	}
	return nil
}

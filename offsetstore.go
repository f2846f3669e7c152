package connect

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/danube-connect/connect/internal/offsets"
)

// OffsetStore persists the committed offsets of source connectors. The
// source runtime calls Load once before Open and Save after every commit
// (from one goroutine at a time). Save must be durable when it returns.
type OffsetStore interface {
	// Load returns the offsets last saved for connector; empty (not an
	// error) when none were saved yet.
	Load(ctx context.Context, connector string) (Offsets, error)
	// Save replaces the offsets of connector.
	Save(ctx context.Context, connector string, offs Offsets) error
}

// FileOffsetStore keeps each connector's offsets in a JSON file
// Dir/<connector>.offsets.json, replaced atomically (temporary file, fsync,
// rename, directory fsync), so a crash leaves the previous or the new
// offsets, never a torn file. Safe for concurrent use.
type FileOffsetStore struct {
	// Dir is the directory holding the offset files; created on first Save.
	Dir string
}

// NewFileOffsetStore returns a file store in dir.
func NewFileOffsetStore(dir string) *FileOffsetStore { return &FileOffsetStore{Dir: dir} }

// Path returns the offset file of connector.
func (s *FileOffsetStore) Path(connector string) string {
	return filepath.Join(s.Dir, url.PathEscape(connector)+".offsets.json")
}

// Load reads the connector's offset file. A missing file yields empty
// offsets; an unreadable or corrupt file is a Fatal error naming the file
// (the runtime will not guess where to resume).
func (s *FileOffsetStore) Load(_ context.Context, connector string) (Offsets, error) {
	path := s.Path(connector)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Offsets{}, nil
	}
	if err != nil {
		return nil, Fatal(fmt.Errorf("read offset file %s: %w", path, err))
	}
	_, offs, err := offsets.Decode(data)
	if err != nil {
		return nil, Fatal(fmt.Errorf("offset file %s: %w", path, err))
	}
	return Offsets(offs), nil
}

// Save writes the connector's offset file atomically and durably.
func (s *FileOffsetStore) Save(_ context.Context, connector string, offs Offsets) error {
	data, err := offsets.Encode(connector, offs)
	if err != nil {
		return err
	}
	if err := offsets.WriteFile(s.Path(connector), data); err != nil {
		return fmt.Errorf("save offsets of %s: %w", connector, err)
	}
	return nil
}

// MemoryOffsetStore keeps offsets in memory, for tests and for sources
// whose Committer is the only durable store. The zero value is ready to use;
// safe for concurrent use.
type MemoryOffsetStore struct {
	mu   sync.Mutex
	offs map[string]Offsets
}

// Load returns a copy of the saved offsets.
func (s *MemoryOffsetStore) Load(_ context.Context, connector string) (Offsets, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Offsets{}
	maps.Copy(out, s.offs[connector])
	return out, nil
}

// Save stores a copy of offs.
func (s *MemoryOffsetStore) Save(_ context.Context, connector string, offs Offsets) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offs == nil {
		s.offs = make(map[string]Offsets)
	}
	s.offs[connector] = maps.Clone(offs)
	return nil
}

var (
	_ OffsetStore = (*FileOffsetStore)(nil)
	_ OffsetStore = (*MemoryOffsetStore)(nil)
)

package registry

import (
	"log/slog"
	"sync"
	"time"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

// Registry is an in-memory schema registry with optional persistence. It is safe for concurrent use.
//
// Registry implements the subject RPCs of schemapb.SchemaRegistryServer; the embedded
// UnimplementedSchemaRegistryServer answers the topic RPCs with UNIMPLEMENTED until the broker
// overrides them.
type Registry struct {
	schemapb.UnimplementedSchemaRegistryServer

	log  *slog.Logger
	path string // state file; "" keeps the registry in memory only
	now  func() time.Time

	// mu guards everything below. Mutations hold it for writing while they persist the state,
	// so the file always matches what readers could have seen.
	mu       sync.RWMutex
	subjects map[string]*subject
	byID     map[uint64]*subject
	nextID   uint64 // id of the next new subject
}

// subject is one named line of schema versions.
type subject struct {
	name        string
	id          uint64
	mode        CompatibilityMode
	nextVersion uint32     // number of the next registered version; numbers are never reused
	versions    []*version // ascending by number
}

// version is one registered schema version. Its fields never change after registration.
type version struct {
	number      uint32
	def         *definition
	description string
	createdBy   string
	tags        []string
	createdAt   int64 // Unix seconds

	ocfReaders ocfReaderCache // avro payload validation: writer schemas known to be readable
}

func (s *subject) latest() *version {
	if len(s.versions) == 0 {
		return nil
	}
	return s.versions[len(s.versions)-1]
}

func (s *subject) find(n uint32) *version {
	for _, v := range s.versions {
		if v.number == n {
			return v
		}
	}
	return nil
}

// Open opens the registry persisted in dir, or a purely in-memory one when dir is "". The
// directory is created if needed. A nil logger discards. Open starts no goroutines.
func Open(dir string, logger *slog.Logger) (*Registry, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{
		log:      logger,
		now:      time.Now,
		subjects: map[string]*subject{},
		byID:     map[uint64]*subject{},
		nextID:   1,
	}
	if dir == "" {
		return r, nil
	}
	if err := r.load(dir); err != nil {
		return nil, err
	}
	return r, nil
}

// Close releases the registry. Every mutation is already durable when its RPC returns, so Close
// has nothing to flush; it is idempotent and the registry stays readable afterwards.
func (r *Registry) Close() error { return nil }

// SubjectID reports the id of subject and whether the subject exists. It does not allocate.
func (r *Registry) SubjectID(subject string) (uint64, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.subjects[subject]
	if !ok {
		return 0, false
	}
	return s.id, true
}

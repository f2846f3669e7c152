package devbroker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// The metadata journal (DataDir/meta.log) records, one JSON record per frame, everything besides
// message data that must survive a restart: topics, producers, subscriptions with their cursors,
// consumers and topic schema bindings. At start-up it is replayed (the last record for a key
// wins) and rewritten compacted.

// Journal record kinds.
const (
	recTopic    = "topic"
	recProducer = "producer"
	recSub      = "subscription"
	recConsumer = "consumer"
	recForget   = "forget_consumer" // consumer removed from its subscription
	recCursor   = "cursor"
	recSchema   = "schema"
)

// record is one journal entry. Fields are used according to Kind.
type record struct {
	Kind     string   `json:"kind"`
	Topic    string   `json:"topic"`
	Reliable bool     `json:"reliable,omitempty"`
	Sub      string   `json:"sub,omitempty"`
	Name     string   `json:"name,omitempty"`
	ID       uint64   `json:"id,omitempty"`
	Type     int32    `json:"type,omitempty"`
	Filters  []string `json:"filters,omitempty"`
	Cursor   uint64   `json:"cursor,omitempty"` // first offset not yet acknowledged
	Subject  string   `json:"subject,omitempty"`
	Policy   string   `json:"policy,omitempty"`
	Payload  bool     `json:"payload_validation,omitempty"`
}

// journal appends records to the metadata file. It is safe for concurrent use.
type journal struct {
	path string
	sync bool

	mu  sync.Mutex
	f   *os.File
	buf []byte
}

// readJournal returns the intact records of the journal at path (none if it does not exist).
func readJournal(path string) ([]record, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var recs []record
	for pos := 0; pos < len(data); {
		payload, n, err := nextFrame(data[pos:])
		if err != nil {
			break // torn tail: everything before it is intact
		}
		var r record
		if err := json.Unmarshal(payload, &r); err != nil {
			break
		}
		recs = append(recs, r)
		pos += n
	}
	return recs, nil
}

// createJournal atomically replaces the journal at path with recs and opens it for appending.
func createJournal(path string, recs []record, sync bool) (*journal, error) {
	var buf []byte
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode journal record: %w", err)
		}
		buf = appendFrame(buf, b)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		return nil, fmt.Errorf("write journal: %w", err)
	}
	if err := fsyncFile(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("install journal: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &journal{path: path, sync: sync, f: f}, nil
}

func fsyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// write appends recs with one write and, if durable is set and the journal syncs, one fsync.
// A nil journal (in-memory broker) ignores the call.
func (j *journal) write(durable bool, recs ...record) error {
	if j == nil || len(recs) == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal closed")
	}
	j.buf = j.buf[:0]
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode journal record: %w", err)
		}
		j.buf = appendFrame(j.buf, b)
	}
	if _, err := j.f.Write(j.buf); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if durable && j.sync {
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("sync journal: %w", err)
		}
	}
	return nil
}

// flush fsyncs what was written so far, if the journal syncs.
func (j *journal) flush() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil || !j.sync {
		return nil
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}

func (j *journal) close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

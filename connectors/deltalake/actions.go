package deltalake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Protocol versions of the tables the sink creates, and the highest it
// writes to. Reader version 1 and writer version 2 (append-only and column
// invariants, no table features): every Delta reader can read the table,
// and the sink needs nothing of the later versions (column mapping,
// deletion vectors, generated columns, change data feed). The sink refuses
// tables with a higher version, and writer-2 tables whose columns carry
// invariants, since it does not check them.
const (
	ReaderVersion = 1
	WriterVersion = 2
)

// action is one line of a Delta commit file. Exactly one field is set.
type action struct {
	Txn        *txnAction      `json:"txn,omitempty"`
	Add        *addAction      `json:"add,omitempty"`
	Remove     *removeAction   `json:"remove,omitempty"`
	MetaData   *metaDataAction `json:"metaData,omitempty"`
	Protocol   *protocolAction `json:"protocol,omitempty"`
	CommitInfo map[string]any  `json:"commitInfo,omitempty"`
}

type txnAction struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

type addAction struct {
	Path             string             `json:"path"`
	PartitionValues  map[string]*string `json:"partitionValues"`
	Size             int64              `json:"size"`
	ModificationTime int64              `json:"modificationTime"`
	DataChange       bool               `json:"dataChange"`
	Stats            string             `json:"stats,omitempty"`
	Tags             map[string]string  `json:"tags,omitempty"`
}

type removeAction struct {
	Path              string             `json:"path"`
	DeletionTimestamp *int64             `json:"deletionTimestamp,omitempty"`
	DataChange        bool               `json:"dataChange"`
	PartitionValues   map[string]*string `json:"partitionValues,omitempty"`
	Size              *int64             `json:"size,omitempty"`
}

type format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

type metaDataAction struct {
	ID               string            `json:"id"`
	Name             *string           `json:"name,omitempty"`
	Description      *string           `json:"description,omitempty"`
	Format           format            `json:"format"`
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	CreatedTime      *int64            `json:"createdTime,omitempty"`
}

type protocolAction struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// stats is the part of an add action's statistics the sink writes.
type stats struct {
	NumRecords int64            `json:"numRecords"`
	NullCount  map[string]int64 `json:"nullCount,omitempty"`
}

// encodeCommit returns the newline-delimited JSON of a commit.
func encodeCommit(actions []action) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, a := range actions {
		if err := enc.Encode(a); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// decodeCommit parses a commit file; unknown action kinds (cdc,
// domainMetadata, …) are ignored.
func decodeCommit(data []byte) ([]action, error) {
	var out []action
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var a action
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// commitName is the log file name of version v.
func commitName(v int64) string { return fmt.Sprintf("%020d.json", v) }

// checkpointName is the single-part checkpoint file name of version v.
func checkpointName(v int64) string { return fmt.Sprintf("%020d.checkpoint.parquet", v) }

// parseCommitName returns the version of a commit file name ("" suffix
// checks excluded): "00000000000000000012.json" → 12.
func parseCommitName(name string) (int64, bool) {
	if len(name) != 25 || name[20:] != ".json" {
		return 0, false
	}
	v, err := strconv.ParseInt(name[:20], 10, 64)
	return v, err == nil
}

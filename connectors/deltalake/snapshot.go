package deltalake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

const logDir = "_delta_log"

// snapshot is the state of a table at a version: protocol, metadata, live
// files, tombstones and the latest txn version of each application.
type snapshot struct {
	version  int64 // -1: no table yet
	protocol *protocolAction
	meta     *metaDataAction
	files    map[string]*addAction
	removes  map[string]*removeAction
	txns     map[string]int64
}

func newSnapshot() *snapshot {
	return &snapshot{version: -1, files: map[string]*addAction{}, removes: map[string]*removeAction{}, txns: map[string]int64{}}
}

// lastCheckpoint is the content of _delta_log/_last_checkpoint.
type lastCheckpoint struct {
	Version int64  `json:"version"`
	Size    int64  `json:"size"`
	Parts   *int64 `json:"parts,omitempty"`
}

// loadSnapshot reads the table's latest state: the latest checkpoint (as
// _last_checkpoint names it, or the newest found by listing), then every
// later commit. A table without a log has version -1.
func loadSnapshot(ctx context.Context, st store) (*snapshot, error) {
	s := newSnapshot()
	cp, err := findCheckpoint(ctx, st)
	if err != nil {
		return nil, err
	}
	if cp != nil {
		if err := s.readCheckpoint(ctx, st, cp); err != nil {
			return nil, err
		}
	}
	if err := s.update(ctx, st); err != nil {
		return nil, err
	}
	return s, nil
}

func findCheckpoint(ctx context.Context, st store) (*lastCheckpoint, error) {
	b, err := st.Get(ctx, logDir+"/_last_checkpoint")
	switch {
	case err == nil:
		var lc lastCheckpoint
		if err := json.Unmarshal(b, &lc); err != nil {
			return nil, fmt.Errorf("read %s/_last_checkpoint: %w", logDir, err)
		}
		return &lc, nil
	case !errors.Is(err, errNotFound):
		return nil, fmt.Errorf("read %s/_last_checkpoint: %w", logDir, err)
	}
	// No hint: the newest single-part checkpoint, if any, when the first
	// commits are gone (otherwise replaying every commit is correct).
	names, err := st.List(ctx, logDir, "")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", logDir, err)
	}
	if slices.Contains(names, commitName(0)) {
		return nil, nil
	}
	var best *lastCheckpoint
	for _, n := range names {
		var v int64
		if _, err := fmt.Sscanf(n, "%020d.checkpoint.parquet", &v); err == nil && n == checkpointName(v) {
			if best == nil || v > best.Version {
				best = &lastCheckpoint{Version: v}
			}
		}
	}
	return best, nil
}

// update applies the commits after s.version, in order.
func (s *snapshot) update(ctx context.Context, st store) error {
	names, err := st.List(ctx, logDir, commitName(s.version+1))
	if err != nil {
		return fmt.Errorf("list %s: %w", logDir, err)
	}
	var versions []int64
	for _, n := range names {
		if v, ok := parseCommitName(n); ok && v > s.version {
			versions = append(versions, v)
		}
	}
	slices.Sort(versions)
	for _, v := range versions {
		if v != s.version+1 {
			return fmt.Errorf("the log of %s has no commit %d (found %d); the table cannot be read", st, s.version+1, v)
		}
		if err := s.applyCommit(ctx, st, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *snapshot) applyCommit(ctx context.Context, st store, v int64) error {
	b, err := st.Get(ctx, logDir+"/"+commitName(v))
	if err != nil {
		return fmt.Errorf("read commit %d of %s: %w", v, st, err)
	}
	actions, err := decodeCommit(b)
	if err != nil {
		return fmt.Errorf("commit %d of %s: %w", v, st, err)
	}
	for i := range actions {
		s.apply(&actions[i])
	}
	s.version = v
	return nil
}

func (s *snapshot) apply(a *action) {
	switch {
	case a.Protocol != nil:
		s.protocol = a.Protocol
	case a.MetaData != nil:
		s.meta = a.MetaData
	case a.Add != nil:
		s.files[a.Add.Path] = a.Add
		delete(s.removes, a.Add.Path)
	case a.Remove != nil:
		delete(s.files, a.Remove.Path)
		s.removes[a.Remove.Path] = a.Remove
	case a.Txn != nil:
		s.txns[a.Txn.AppID] = a.Txn.Version
	}
}

// protocolProblems says why the sink cannot write to a table with this
// protocol (nil when it can).
func protocolProblems(p *protocolAction) []string {
	if p == nil {
		return []string{"the table has no protocol action"}
	}
	var out []string
	if p.MinReaderVersion > ReaderVersion {
		out = append(out, fmt.Sprintf("the table needs reader version %d (features %s); the sink supports reader version %d",
			p.MinReaderVersion, strings.Join(p.ReaderFeatures, ","), ReaderVersion))
	}
	if p.MinWriterVersion > WriterVersion {
		out = append(out, fmt.Sprintf("the table needs writer version %d (features %s); the sink supports writer version %d",
			p.MinWriterVersion, strings.Join(p.WriterFeatures, ","), WriterVersion))
	}
	return out
}

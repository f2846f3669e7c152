package deltalake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Checkpoint rows: one action per row, the other columns null, as the
// Delta protocol lays out a checkpoint file.
type cpRow struct {
	Txn      *cpTxn      `parquet:"txn,optional"`
	Add      *cpAdd      `parquet:"add,optional"`
	Remove   *cpRemove   `parquet:"remove,optional"`
	MetaData *cpMeta     `parquet:"metaData,optional"`
	Protocol *cpProtocol `parquet:"protocol,optional"`
}

type cpTxn struct {
	AppID       string `parquet:"appId"`
	Version     int64  `parquet:"version"`
	LastUpdated *int64 `parquet:"lastUpdated,optional"`
}

type cpAdd struct {
	Path             string            `parquet:"path"`
	PartitionValues  map[string]string `parquet:"partitionValues"`
	Size             int64             `parquet:"size"`
	ModificationTime int64             `parquet:"modificationTime"`
	DataChange       bool              `parquet:"dataChange"`
	Stats            *string           `parquet:"stats,optional"`
}

type cpRemove struct {
	Path              string `parquet:"path"`
	DeletionTimestamp *int64 `parquet:"deletionTimestamp,optional"`
	DataChange        bool   `parquet:"dataChange"`
}

type cpFormat struct {
	Provider string            `parquet:"provider"`
	Options  map[string]string `parquet:"options,optional"`
}

type cpMeta struct {
	ID               string            `parquet:"id"`
	Name             *string           `parquet:"name,optional"`
	Description      *string           `parquet:"description,optional"`
	Format           cpFormat          `parquet:"format"`
	SchemaString     string            `parquet:"schemaString"`
	PartitionColumns []string          `parquet:"partitionColumns,list"`
	Configuration    map[string]string `parquet:"configuration,optional"`
	CreatedTime      *int64            `parquet:"createdTime,optional"`
}

type cpProtocol struct {
	MinReaderVersion int32 `parquet:"minReaderVersion"`
	MinWriterVersion int32 `parquet:"minWriterVersion"`
}

// checkpointRows returns the snapshot as checkpoint rows: protocol,
// metadata, txns, live files, tombstones.
func (s *snapshot) checkpointRows() []cpRow {
	rows := make([]cpRow, 0, 2+len(s.txns)+len(s.files)+len(s.removes))
	p := s.protocol
	rows = append(rows, cpRow{Protocol: &cpProtocol{MinReaderVersion: int32(p.MinReaderVersion), MinWriterVersion: int32(p.MinWriterVersion)}})
	m := s.meta
	rows = append(rows, cpRow{MetaData: &cpMeta{
		ID: m.ID, Name: m.Name, Description: m.Description,
		Format:       cpFormat{Provider: m.Format.Provider, Options: m.Format.Options},
		SchemaString: m.SchemaString, PartitionColumns: m.PartitionColumns, Configuration: m.Configuration, CreatedTime: m.CreatedTime,
	}})
	for _, id := range slices.Sorted(maps.Keys(s.txns)) {
		rows = append(rows, cpRow{Txn: &cpTxn{AppID: id, Version: s.txns[id]}})
	}
	for _, path := range slices.Sorted(maps.Keys(s.files)) {
		a := s.files[path]
		pv := make(map[string]string, len(a.PartitionValues))
		for k, v := range a.PartitionValues {
			if v != nil {
				pv[k] = *v
			}
		}
		var st *string
		if a.Stats != "" {
			st = &a.Stats
		}
		rows = append(rows, cpRow{Add: &cpAdd{Path: a.Path, PartitionValues: pv, Size: a.Size, ModificationTime: a.ModificationTime, DataChange: false, Stats: st}})
	}
	for _, path := range slices.Sorted(maps.Keys(s.removes)) {
		r := s.removes[path]
		rows = append(rows, cpRow{Remove: &cpRemove{Path: r.Path, DeletionTimestamp: r.DeletionTimestamp, DataChange: false}})
	}
	return rows
}

// writeCheckpoint writes the checkpoint of s (at s.version) and then
// _last_checkpoint. A checkpoint only speeds up readers: a failure leaves
// the table correct.
func writeCheckpoint(ctx context.Context, st store, s *snapshot) error {
	s.expireTombstones(time.Now())
	rows := s.checkpointRows()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[cpRow](&buf, parquet.Compression(&parquet.Snappy))
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("encode checkpoint %d: %w", s.version, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encode checkpoint %d: %w", s.version, err)
	}
	if err := st.Put(ctx, logDir+"/"+checkpointName(s.version), buf.Bytes()); err != nil {
		return fmt.Errorf("write checkpoint %d: %w", s.version, err)
	}
	lc, _ := json.Marshal(lastCheckpoint{Version: s.version, Size: int64(len(rows))}) // plain values cannot fail
	if err := st.Put(ctx, logDir+"/_last_checkpoint", lc); err != nil {
		return fmt.Errorf("write _last_checkpoint: %w", err)
	}
	return nil
}

// readCheckpoint loads a checkpoint (single- or multi-part) into s.
func (s *snapshot) readCheckpoint(ctx context.Context, st store, lc *lastCheckpoint) error {
	var names []string
	if lc.Parts != nil && *lc.Parts > 1 {
		for i := int64(1); i <= *lc.Parts; i++ {
			names = append(names, fmt.Sprintf("%020d.checkpoint.%010d.%010d.parquet", lc.Version, i, *lc.Parts))
		}
	} else {
		names = []string{checkpointName(lc.Version)}
	}
	for _, n := range names {
		b, err := st.Get(ctx, logDir+"/"+n)
		if err != nil {
			return fmt.Errorf("read checkpoint %s of %s: %w", n, st, err)
		}
		rows, err := parquet.Read[cpRow](bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return fmt.Errorf("decode checkpoint %s of %s: %w", n, st, err)
		}
		for i := range rows {
			s.applyCheckpointRow(&rows[i])
		}
	}
	s.version = lc.Version
	return nil
}

func (s *snapshot) applyCheckpointRow(r *cpRow) {
	switch {
	case r.Protocol != nil:
		s.protocol = &protocolAction{MinReaderVersion: int(r.Protocol.MinReaderVersion), MinWriterVersion: int(r.Protocol.MinWriterVersion)}
	case r.MetaData != nil:
		m := r.MetaData
		s.meta = &metaDataAction{ID: m.ID, Name: m.Name, Description: m.Description,
			Format:       format{Provider: m.Format.Provider, Options: m.Format.Options},
			SchemaString: m.SchemaString, PartitionColumns: m.PartitionColumns, Configuration: m.Configuration, CreatedTime: m.CreatedTime}
	case r.Txn != nil:
		s.txns[r.Txn.AppID] = r.Txn.Version
	case r.Add != nil:
		a := r.Add
		pv := make(map[string]*string, len(a.PartitionValues))
		for k, v := range a.PartitionValues {
			pv[k] = &v
		}
		add := &addAction{Path: a.Path, PartitionValues: pv, Size: a.Size, ModificationTime: a.ModificationTime}
		if a.Stats != nil {
			add.Stats = *a.Stats
		}
		s.files[a.Path] = add
	case r.Remove != nil:
		s.removes[r.Remove.Path] = &removeAction{Path: r.Remove.Path, DeletionTimestamp: r.Remove.DeletionTimestamp}
	}
}

// tombstoneRetention is how long remove actions stay in checkpoints: the
// protocol's default delta.deletedFileRetentionDuration. Readers of
// versions older than that may not find their files any more (vacuum).
const tombstoneRetention = 7 * 24 * time.Hour

// expireTombstones drops the remove actions older than the retention
// (those without a deletion time are kept).
func (s *snapshot) expireTombstones(now time.Time) {
	limit := now.Add(-tombstoneRetention).UnixMilli()
	for path, r := range s.removes {
		if r.DeletionTimestamp != nil && *r.DeletionTimestamp < limit {
			delete(s.removes, path)
		}
	}
}

package deltalake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danube-connect/connect"
)

// table writes to one Delta table. Data files are written concurrently;
// commits are serialized by mu and made atomic by the store's
// put-if-absent, so other writers (another process, delta-rs) may commit
// to the same table: a commit that loses the race re-reads the log and
// tries the next version.
type table struct {
	cfg        Table
	st         store
	schema     *tableSchema
	enc        *encoder
	cpInterval int64
	log        *slog.Logger

	mu   sync.Mutex // guards snap and txn
	snap *snapshot
	txn  txnState
}

// tableProblem is a Configuration error about a table naming every
// problem.
func tableProblem(st store, problems []string) error {
	return connect.Configuration(fmt.Errorf("deltalake: table %s: %s", st, strings.Join(problems, "; ")))
}

// openTable reads (or creates) the table and checks that its protocol,
// schema and partitioning are those configured.
func openTable(ctx context.Context, cfg Table, c *Config, data []tableColumn, log *slog.Logger) (*table, error) {
	st, err := openStore(ctx, cfg.TableURI, c.S3)
	if err != nil {
		return nil, connect.Configuration(fmt.Errorf("deltalake: %w", err))
	}
	if s3, ok := st.(*s3Store); ok {
		if err := s3.probeConditionalPut(ctx); err != nil {
			if errors.Is(err, errConditionalPutIgnored) {
				return nil, connect.Configuration(fmt.Errorf("deltalake: table %s: %w", st, err))
			}
			return nil, fmt.Errorf("deltalake: %w", err)
		}
	}
	snap, err := loadSnapshot(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("deltalake: %w", err)
	}
	if cfg.SchemaSource == "table" {
		if snap.version < 0 {
			return nil, tableProblem(st, []string{"schema_source is table but there is no table"})
		}
		data, err = existingDataColumns(snap)
		if err != nil {
			return nil, tableProblem(st, []string{err.Error()})
		}
	}
	schema, err := cfg.schema(data)
	if err != nil {
		return nil, connect.Configuration(fmt.Errorf("deltalake: table %s: %w", st, err))
	}
	t := &table{cfg: cfg, st: st, schema: schema, enc: newEncoder(schema, c.Compression), cpInterval: int64(c.CheckpointInterval), log: log, snap: snap}
	if snap.version < 0 {
		if err := t.create(ctx); err != nil {
			return nil, err
		}
	}
	if p := t.check(); len(p) > 0 {
		return nil, tableProblem(st, p)
	}
	t.txn = newTxnState(t.snap.txns)
	return t, nil
}

// existingDataColumns returns the table's columns but the metadata ones,
// each read from the top-level field of its name.
func existingDataColumns(s *snapshot) ([]tableColumn, error) {
	if s.meta == nil {
		return nil, errors.New("the table has no metadata")
	}
	cols, problems, err := parseSchemaString(s.meta.SchemaString)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	var out []tableColumn
	for _, c := range cols {
		if !strings.HasPrefix(c.Name, "_danube_") {
			c.Path = []string{c.Name}
			out = append(out, c)
		}
	}
	return out, nil
}

// check lists why the table's current state does not match the
// configuration.
func (t *table) check() []string {
	s := t.snap
	problems := protocolProblems(s.protocol)
	if s.meta == nil {
		return append(problems, "the table has no metadata")
	}
	if s.meta.Format.Provider != "" && s.meta.Format.Provider != "parquet" {
		problems = append(problems, fmt.Sprintf("the table's files are %s, not parquet", s.meta.Format.Provider))
	}
	cols, colProblems, err := parseSchemaString(s.meta.SchemaString)
	if err != nil {
		return append(problems, err.Error())
	}
	problems = append(problems, colProblems...)
	return append(problems, t.schema.diff(cols, s.meta.PartitionColumns)...)
}

// create commits version 0: protocol and metadata. Losing the race to
// another writer is fine: the table it created is then checked.
func (t *table) create(ctx context.Context) error {
	now := time.Now().UnixMilli()
	actions := []action{
		{CommitInfo: commitInfo(now, "CREATE TABLE", map[string]any{"mode": "ErrorIfExists"})},
		{Protocol: &protocolAction{MinReaderVersion: ReaderVersion, MinWriterVersion: WriterVersion}},
		{MetaData: &metaDataAction{
			ID: newUUID(), Format: format{Provider: "parquet", Options: map[string]string{}},
			SchemaString: t.schema.SchemaString(), PartitionColumns: slices.Clone(t.schema.Partition),
			Configuration: map[string]string{}, CreatedTime: &now,
		}},
	}
	if actions[2].MetaData.PartitionColumns == nil {
		actions[2].MetaData.PartitionColumns = []string{}
	}
	b, err := encodeCommit(actions)
	if err != nil {
		return fmt.Errorf("deltalake: %w", err)
	}
	err = t.st.PutIfAbsent(ctx, logDir+"/"+commitName(0), b)
	if err != nil && !errors.Is(err, errExists) {
		return fmt.Errorf("deltalake: create table %s: %w", t.st, err)
	}
	if err := t.snap.update(ctx, t.st); err != nil {
		return fmt.Errorf("deltalake: %w", err)
	}
	t.log.Info("deltalake table created", "table", t.st.String(), "version", t.snap.version)
	return nil
}

func commitInfo(now int64, op string, params map[string]any) map[string]any {
	return map[string]any{"timestamp": now, "operation": op, "operationParameters": params, "engineInfo": "danube-connect"}
}

// committedFlags reports, for each record (app id index, offset), whether
// it is already committed, and returns the floors it decided on.
func (t *table) committedFlags(ids []string, idOf []int, offs []uint64) ([]bool, map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]bool, len(offs))
	for j, off := range offs {
		out[j] = t.txn.committed(ids[idOf[j]], off)
	}
	floors := make(map[string]int64, len(ids))
	for _, id := range ids {
		floors[id] = t.txn.floorOf(id)
	}
	return out, floors
}

// errTxnMoved is returned by commit when another writer raised the txn
// version of one of the batch's app ids since the batch was prepared: the
// caller prepares it again so that nothing is written twice.
var errTxnMoved = errors.New("deltalake: another writer committed a txn version of this batch's partitions")

// commit commits adds as the next version with a txn action per app id of
// offs (the offsets written, by app id) when exactly-once is on. floors
// are the floors the batch was prepared against.
func (t *table) commit(ctx context.Context, adds []*addAction, offs map[string][]uint64, floors map[string]int64) error {
	now := time.Now().UnixMilli()
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		for id, f := range floors {
			if t.txn.floorOf(id) != f {
				return errTxnMoved
			}
		}
		actions := make([]action, 0, 1+len(adds)+len(offs))
		actions = append(actions, action{CommitInfo: commitInfo(now, "WRITE", map[string]any{"mode": "Append"})})
		for _, id := range slices.Sorted(maps.Keys(offs)) {
			v, ok := t.snap.txns[id]
			if !ok {
				v = -1
			}
			v = max(v, int64(slices.Max(offs[id])))
			actions = append(actions, action{Txn: &txnAction{AppID: id, Version: v, LastUpdated: &now}})
		}
		for _, a := range adds {
			actions = append(actions, action{Add: a})
		}
		b, err := encodeCommit(actions)
		if err != nil {
			return connect.Fatal(fmt.Errorf("deltalake: encode commit: %w", err))
		}
		v := t.snap.version + 1
		err = t.st.PutIfAbsent(ctx, logDir+"/"+commitName(v), b)
		if err == nil {
			for i := range actions {
				t.snap.apply(&actions[i])
			}
			t.snap.version = v
			for id, o := range offs {
				t.txn.record(id, o)
			}
			t.maybeCheckpoint(ctx)
			return nil
		}
		if !errors.Is(err, errExists) {
			return fmt.Errorf("deltalake: commit version %d of %s: %w", v, t.st, err)
		}
		// Another writer took version v: read what it committed and try
		// the next version, unless it changed what we rely on. Our own
		// commits are applied under mu, so the txn versions that change
		// here were committed by others.
		before := maps.Clone(t.snap.txns)
		if err := t.snap.update(ctx, t.st); err != nil {
			return fmt.Errorf("deltalake: %w", err)
		}
		changed := map[string]int64{}
		for id, v := range t.snap.txns {
			if old, ok := before[id]; !ok || old != v {
				changed[id] = v
			}
		}
		t.txn.raise(changed)
		if p := t.check(); len(p) > 0 {
			return connect.Fatal(fmt.Errorf("deltalake: table %s changed under the sink: %s", t.st, strings.Join(p, "; ")))
		}
	}
}

// maybeCheckpoint writes a checkpoint every cpInterval versions. Called
// with mu held. A failed checkpoint is logged: the table stays correct.
func (t *table) maybeCheckpoint(ctx context.Context) {
	if t.snap.version == 0 || t.snap.version%t.cpInterval != 0 {
		return
	}
	if err := writeCheckpoint(ctx, t.st, t.snap); err != nil {
		t.log.Warn("deltalake checkpoint failed", "table", t.st.String(), "version", t.snap.version, "error", err)
	}
}

// dataPath returns the relative path of a new data file (as written to the
// store) and its URI-encoded form for the add action.
func (t *table) dataPath(part []string) (string, string) {
	file := "part-00000-" + newUUID() + "-c000." + compressionSuffix(t.enc) + "parquet"
	var dirs, uri []string
	for i, name := range t.schema.Partition {
		seg := name + "=" + escapePartition(part[i])
		dirs = append(dirs, seg)
		uri = append(uri, url.PathEscape(seg))
	}
	return strings.Join(append(dirs, file), "/"), strings.Join(append(uri, file), "/")
}

func compressionSuffix(e *encoder) string {
	if n := e.codec.String(); n != "" && n != "UNCOMPRESSED" {
		return strings.ToLower(n) + "."
	}
	return ""
}

// escapePartition escapes a partition value for a directory name the way
// Hive-style layouts do: characters other than letters, digits and
// "-_." become %XX.
func escapePartition(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

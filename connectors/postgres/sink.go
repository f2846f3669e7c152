// Package postgres is a sink connector writing records to PostgreSQL
// tables through pgx: COPY batches (insert and jsonb modes) or a staged
// INSERT … ON CONFLICT (upsert mode), with per-row dead-lettering and an
// exactly-once mode that commits rows and consumed offsets in one
// transaction. See the README section "PostgreSQL sink" for the
// guarantees.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/danube-connect/connect"
)

// Sink writes records to PostgreSQL. Create it with [New].
type Sink struct {
	cfg   Config
	subs  map[string]string
	log   *slog.Logger
	pool  *pgxpool.Pool
	state string // quoted state table name
	// tables by topic; set in Open, read-only afterwards
	tables map[string]*table
	defSub string
}

var (
	_ connect.BatchSink     = (*Sink)(nil)
	_ connect.HealthChecker = (*Sink)(nil)
)

// Option configures a Sink.
type Option func(*Sink)

// WithSubscriptions names the subscription of each topic (default: the
// connector name), which keys the exactly-once state.
func WithSubscriptions(subs map[string]string) Option {
	return func(s *Sink) { s.subs = subs }
}

// New returns a sink for cfg (defaults applied).
func New(cfg Config, opts ...Option) *Sink {
	s := &Sink{cfg: cfg}
	for _, o := range opts {
		o(s)
	}
	return s
}

// table is a resolved table mapping.
type table struct {
	cfg      Table
	name     string // quoted, qualified
	cols     []column
	keys     []int // indexes into cols of the key columns (upsert)
	copySQL  string
	rowSQL   string // one row with $n text parameters
	stage    string // upsert: quoted temp table name
	stageSQL string // upsert: create the stage table
	copyStg  string // upsert: COPY into the stage table
	mergeSQL string // upsert: stage → target
}

// quoteName quotes a possibly schema-qualified name.
func quoteName(n string) string {
	return pgx.Identifier(strings.Split(n, ".")).Sanitize()
}

func quoteCols(cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = pgx.Identifier{c.name}.Sanitize()
	}
	return strings.Join(names, ", ")
}

// Open connects, creates the state table (exactly_once) and the tables with
// auto_create, and checks every table and mapped column: a missing table or
// column, or upsert key columns without a unique index, are Configuration
// errors.
func (s *Sink) Open(ctx context.Context, env connect.SinkEnv) error {
	s.log = env.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.defSub = env.Name
	if err := s.cfg.Validate(); err != nil {
		return connect.Configuration(fmt.Errorf("postgres: %w", err))
	}
	for _, topic := range env.Topics {
		if !slices.ContainsFunc(s.cfg.Tables, func(t Table) bool { return t.Topic == topic || t.Topic == "*" }) {
			return configErr("postgres: topic %s has no [[postgres.tables]] entry", topic)
		}
	}
	pc, err := s.cfg.poolConfig()
	if err != nil {
		return connect.Configuration(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return connect.Configuration(fmt.Errorf("postgres: %w", err))
	}
	s.pool = pool
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return classifyOpen("connect", err)
	}
	defer conn.Release()
	if s.cfg.ExactlyOnce {
		s.state = quoteName(s.cfg.StateTable)
		if _, err := conn.Exec(ctx, fmt.Sprintf(stateDDL, s.state)); err != nil {
			return classifyOpen("create state table "+s.cfg.StateTable, err)
		}
	}
	s.tables = map[string]*table{}
	for _, tc := range s.cfg.Tables {
		t, err := s.prepare(ctx, conn.Conn(), tc)
		if err != nil {
			return err
		}
		s.tables[tc.Topic] = t
	}
	s.log.Info("postgres sink ready", "host", pc.ConnConfig.Host, "database", pc.ConnConfig.Database,
		"tables", len(s.tables), "exactly_once", s.cfg.ExactlyOnce)
	return nil
}

// prepare checks (or creates) one table and builds its statements.
func (s *Sink) prepare(ctx context.Context, conn *pgx.Conn, tc Table) (*table, error) {
	cols, err := tc.columns()
	if err != nil {
		return nil, connect.Configuration(fmt.Errorf("postgres: %w", err))
	}
	t := &table{cfg: tc, name: quoteName(tc.Table), cols: cols}
	if tc.AutoCreate {
		if _, err := conn.Exec(ctx, t.createSQL()); err != nil {
			return nil, classifyOpen("create table "+tc.Table, err)
		}
	}
	var oid *uint32
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1)::oid", t.name).Scan(&oid); err != nil {
		return nil, classifyOpen("look up table "+tc.Table, err)
	}
	if oid == nil {
		return nil, configErr("postgres: table %s (topic %s) does not exist; create it or set auto_create = true", tc.Table, tc.Topic)
	}
	rows, err := conn.Query(ctx, "SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped", *oid)
	if err != nil {
		return nil, classifyOpen("read columns of "+tc.Table, err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classifyOpen("read columns of "+tc.Table, err)
	}
	var missing []string
	for _, c := range cols {
		if !slices.Contains(have, c.name) {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return nil, configErr("postgres: table %s has no column %s (it has %s)", tc.Table, strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	list := quoteCols(cols)
	t.copySQL = "COPY " + t.name + " (" + list + ") FROM STDIN"
	params := make([]string, len(cols))
	for i := range cols {
		params[i] = "$" + strconv.Itoa(i+1)
	}
	t.rowSQL = "INSERT INTO " + t.name + " (" + list + ") VALUES (" + strings.Join(params, ", ") + ")"
	if tc.Mode == "upsert" {
		if err := t.checkUnique(ctx, conn, *oid); err != nil {
			return nil, err
		}
		t.buildUpsert(list)
	}
	return t, nil
}

// createSQL is the CREATE TABLE IF NOT EXISTS of auto_create.
func (t *table) createSQL() string {
	defs := make([]string, len(t.cols))
	for i, c := range t.cols {
		defs[i] = pgx.Identifier{c.name}.Sanitize() + " " + c.typ
		if slices.Contains(t.cfg.KeyColumns, c.name) {
			defs[i] += " NOT NULL"
		}
	}
	if len(t.cfg.KeyColumns) > 0 {
		keys := make([]string, len(t.cfg.KeyColumns))
		for i, k := range t.cfg.KeyColumns {
			keys[i] = pgx.Identifier{k}.Sanitize()
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
	}
	return "CREATE TABLE IF NOT EXISTS " + t.name + " (" + strings.Join(defs, ", ") + ")"
}

// checkUnique requires a unique index (or primary key) on exactly the key
// columns, which ON CONFLICT needs.
func (t *table) checkUnique(ctx context.Context, conn *pgx.Conn, oid uint32) error {
	rows, err := conn.Query(ctx, `SELECT array_agg(a.attname::text ORDER BY a.attname)
		FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
		GROUP BY i.indexrelid`, oid)
	if err != nil {
		return classifyOpen("read indexes of "+t.cfg.Table, err)
	}
	sets, err := pgx.CollectRows(rows, pgx.RowTo[[]string])
	if err != nil {
		return classifyOpen("read indexes of "+t.cfg.Table, err)
	}
	want := slices.Clone(t.cfg.KeyColumns)
	slices.Sort(want)
	want = slices.Compact(want)
	if !slices.ContainsFunc(sets, func(s []string) bool { return slices.Equal(s, want) }) {
		return configErr("postgres: upsert into %s needs a unique index or primary key on exactly (%s)", t.cfg.Table, strings.Join(t.cfg.KeyColumns, ", "))
	}
	for i, c := range t.cols {
		if slices.Contains(want, c.name) {
			t.keys = append(t.keys, i)
		}
	}
	return nil
}

// buildUpsert prepares the staged upsert: rows are copied into a
// transaction-scoped temporary table shaped like the mapped columns, then
// merged with one INSERT … SELECT … ON CONFLICT.
func (t *table) buildUpsert(list string) {
	h := fnv.New32a()
	h.Write([]byte(t.name))
	t.stage = pgx.Identifier{fmt.Sprintf("danube_stage_%08x", h.Sum32())}.Sanitize()
	t.stageSQL = "CREATE TEMP TABLE IF NOT EXISTS " + t.stage + " ON COMMIT DELETE ROWS AS SELECT " + list + " FROM " + t.name + " WITH NO DATA"
	t.copyStg = "COPY " + t.stage + " (" + list + ") FROM STDIN"
	keys := make([]string, len(t.cfg.KeyColumns))
	for i, k := range t.cfg.KeyColumns {
		keys[i] = pgx.Identifier{k}.Sanitize()
	}
	var sets []string
	for _, c := range t.cols {
		if !slices.Contains(t.cfg.KeyColumns, c.name) {
			q := pgx.Identifier{c.name}.Sanitize()
			sets = append(sets, q+" = EXCLUDED."+q)
		}
	}
	conflict := " ON CONFLICT (" + strings.Join(keys, ", ") + ") "
	if len(sets) == 0 {
		conflict += "DO NOTHING"
	} else {
		conflict += "DO UPDATE SET " + strings.Join(sets, ", ")
	}
	t.mergeSQL = "INSERT INTO " + t.name + " (" + list + ") SELECT " + list + " FROM " + t.stage + conflict
	t.rowSQL += conflict
}

// HealthCheck pings the server.
func (s *Sink) HealthCheck(ctx context.Context) error {
	if s.pool == nil {
		return errors.New("postgres: not open")
	}
	return s.pool.Ping(ctx)
}

// Close closes the connection pool.
func (s *Sink) Close(context.Context) error {
	if s.pool != nil {
		s.pool.Close()
	}
	return nil
}

// subscription returns the subscription consuming topic.
func (s *Sink) subscription(topic string) string {
	if sub := s.subs[topic]; sub != "" {
		return sub
	}
	return s.defSub
}

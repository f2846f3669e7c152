package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/danube-connect/connect"
)

// Write writes one record.
func (s *Sink) Write(ctx context.Context, rec connect.SinkRecord) error {
	err := s.WriteBatch(ctx, []connect.SinkRecord{rec})
	var be *connect.BatchError
	if errors.As(err, &be) && len(be.Failures) == 1 {
		return be.Failures[0].Err
	}
	return err
}

// pending is one record of a batch on its way to a table.
type pending struct {
	idx  int // index in the batch
	vals rowValues
	off  int64
	part *partState // exactly_once only
}

// WriteBatch writes the records of each table in one statement (COPY, or
// COPY into a stage table and one INSERT … ON CONFLICT) and, with
// exactly_once, records their offsets in the same transaction, skipping
// records already written. A record that does not map, or a row the server
// rejects for its data (SQLSTATE class 22, 23 or 54), fails alone with
// InvalidData naming the SQLSTATE and message: the batch is then written
// again row by row, each row under a savepoint, so the other rows commit.
func (s *Sink) WriteBatch(ctx context.Context, recs []connect.SinkRecord) error {
	be := &connect.BatchError{}
	groups := map[*table][]pending{}
	var order []*table
	for i := range recs {
		rec := &recs[i]
		t := s.tables[rec.Topic]
		if t == nil {
			t = s.tables["*"]
		}
		if t == nil {
			be.Add(i, connect.Fatal(fmt.Errorf("postgres: no table for topic %s", rec.Topic)))
			continue
		}
		vals, err := t.values(rec)
		if err != nil {
			be.Add(i, connect.InvalidData(fmt.Errorf("postgres: %s offset %d: %w", rec.PartitionTopic, rec.Offset, err)))
			continue
		}
		if _, ok := groups[t]; !ok {
			order = append(order, t)
		}
		groups[t] = append(groups[t], pending{idx: i, vals: vals, off: int64(rec.Offset)})
	}
	for _, t := range order {
		if err := s.writeTable(ctx, t, recs, groups[t], be); err != nil {
			for _, p := range groups[t] {
				be.Add(p.idx, err)
			}
		}
	}
	if len(be.Failures) == 0 {
		return nil
	}
	return be
}

// writeTable writes rows of one table; row failures are added to be, an
// error fails every row.
func (s *Sink) writeTable(ctx context.Context, t *table, recs []connect.SinkRecord, rows []pending, be *connect.BatchError) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return classify("connect", err)
	}
	defer conn.Release()
	if !s.cfg.ExactlyOnce && t.cfg.Mode != "upsert" {
		// A single COPY is atomic: no transaction needed.
		_, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(copyData(rows)), t.copySQL)
		if err == nil {
			return nil
		}
		if !rowLevel(err) {
			return classify("copy into "+t.cfg.Table, err)
		}
		return s.rowByRow(ctx, conn, t, recs, rows, be)
	}
	err = s.inTx(ctx, conn, t, recs, rows, func(tx pgx.Tx, todo []pending) error {
		return t.writeBulk(ctx, tx, todo)
	})
	if err == nil {
		return nil
	}
	if !rowLevel(err) {
		return classify("write "+t.cfg.Table, err)
	}
	return s.rowByRow(ctx, conn, t, recs, rows, be)
}

// rowByRow writes rows one at a time in one transaction, each under a
// savepoint: rows the server rejects for their data are named in be, the
// others commit.
func (s *Sink) rowByRow(ctx context.Context, conn *pgxpool.Conn, t *table, recs []connect.SinkRecord, rows []pending, be *connect.BatchError) error {
	var failed []connect.RecordError
	err := s.inTx(ctx, conn, t, recs, rows, func(tx pgx.Tx, todo []pending) error {
		failed = failed[:0]
		pc := tx.Conn().PgConn()
		for _, p := range todo {
			if _, err := tx.Exec(ctx, "SAVEPOINT danube_row"); err != nil {
				return err
			}
			_, err := pc.ExecParams(ctx, t.rowSQL, p.vals, nil, nil, nil).Close()
			if err == nil {
				_, err = tx.Exec(ctx, "RELEASE SAVEPOINT danube_row")
				if err != nil {
					return err
				}
				if p.part != nil {
					p.part.added = append(p.part.added, p.off)
				}
				continue
			}
			if !rowLevel(err) {
				return err
			}
			rec := &recs[p.idx]
			failed = append(failed, connect.RecordError{Index: p.idx, Err: connect.InvalidData(fmt.Errorf(
				"postgres: row of %s offset %d rejected by %s: %s", rec.PartitionTopic, rec.Offset, t.cfg.Table, describe(err)))})
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT danube_row"); err != nil {
				return err
			}
		}
		return nil
	}, true)
	if err != nil {
		return classify("write "+t.cfg.Table, err)
	}
	be.Failures = append(be.Failures, failed...)
	return nil
}

// inTx runs write in a transaction. With exactly_once it locks the
// partitions of rows, reads their state, hands write only the rows not
// written yet and records their offsets before committing. perRow says
// that write records the written offsets itself (row by row); otherwise
// every row handed to write counts as written.
func (s *Sink) inTx(ctx context.Context, conn *pgxpool.Conn, t *table, recs []connect.SinkRecord, rows []pending, write func(pgx.Tx, []pending) error, perRow ...bool) (err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	todo := rows
	var parts []*partState
	if s.cfg.ExactlyOnce {
		byKey := map[partKey]*partState{}
		for i := range rows {
			rec := &recs[rows[i].idx]
			k := partKey{sub: s.subscription(rec.Topic), topic: rec.PartitionTopic}
			p := byKey[k]
			if p == nil {
				p = &partState{key: k, lo: rows[i].off, hi: rows[i].off}
				byKey[k] = p
				parts = append(parts, p)
			}
			p.lo, p.hi = min(p.lo, rows[i].off), max(p.hi, rows[i].off)
			rows[i].part = p
		}
		if err := loadState(ctx, tx, s.state, parts); err != nil {
			return err
		}
		todo = make([]pending, 0, len(rows))
		seen := map[partKey]map[int64]bool{}
		for _, r := range rows {
			if r.part.covered(r.off) || seen[r.part.key][r.off] {
				continue // written before: acknowledged without a second row
			}
			if seen[r.part.key] == nil {
				seen[r.part.key] = map[int64]bool{}
			}
			seen[r.part.key][r.off] = true
			todo = append(todo, r)
		}
		if skipped := len(rows) - len(todo); skipped > 0 {
			s.log.Info("postgres: skipping records already written", "table", t.cfg.Table, "records", skipped)
		}
	}
	if len(todo) > 0 {
		if err := write(tx, todo); err != nil {
			return err
		}
	}
	if s.cfg.ExactlyOnce {
		if len(perRow) == 0 || !perRow[0] {
			for _, r := range todo {
				r.part.added = append(r.part.added, r.off)
			}
		}
		if err := saveState(ctx, tx, s.state, parts); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// copyData encodes rows in COPY text format.
func copyData(rows []pending) []byte {
	n := 0
	for _, r := range rows {
		for _, v := range r.vals {
			n += len(v) + 2
		}
	}
	b := make([]byte, 0, n+n/16)
	for _, r := range rows {
		b = appendCopyText(b, r.vals)
	}
	return b
}

// writeBulk writes rows with one COPY (insert, jsonb) or a staged upsert.
func (t *table) writeBulk(ctx context.Context, tx pgx.Tx, rows []pending) error {
	pc := tx.Conn().PgConn()
	if t.cfg.Mode != "upsert" {
		_, err := pc.CopyFrom(ctx, bytes.NewReader(copyData(rows)), t.copySQL)
		return err
	}
	if _, err := tx.Exec(ctx, t.stageSQL); err != nil {
		return err
	}
	if _, err := pc.CopyFrom(ctx, bytes.NewReader(copyData(lastPerKey(t, rows))), t.copyStg); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, t.mergeSQL)
	return err
}

// lastPerKey keeps, of rows sharing key values, the last: one INSERT … ON
// CONFLICT DO UPDATE cannot touch a row twice, and the last write wins
// anyway.
func lastPerKey(t *table, rows []pending) []pending {
	last := make(map[string]int, len(rows))
	var k strings.Builder
	keyOf := func(r pending) string {
		k.Reset()
		for _, i := range t.keys {
			if r.vals[i] == nil {
				k.WriteString("\x00N")
			} else {
				k.WriteString("\x00V")
				k.Write(r.vals[i])
			}
		}
		return k.String()
	}
	for i, r := range rows {
		last[keyOf(r)] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([]pending, 0, len(last))
	for i, r := range rows {
		if last[keyOf(r)] == i {
			out = append(out, r)
		}
	}
	return out
}

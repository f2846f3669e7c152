package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return classify("connect", err)
	}
	defer pc.Release()
	conn := pc.Conn()
	if !s.cfg.ExactlyOnce && t.cfg.Mode != "upsert" {
		// A single COPY is atomic: no transaction needed.
		_, err = conn.PgConn().CopyFrom(ctx, bytes.NewReader(copyData(rows)), t.copySQL)
	} else {
		err = s.fastTx(ctx, conn, t, recs, rows)
		if errors.Is(err, errNoFastPath) || sqlState(err) == sqlStateWritten {
			// Redelivered records among them: read the state first.
			err = s.inTx(ctx, conn, t, recs, rows, nil)
		}
	}
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
func (s *Sink) rowByRow(ctx context.Context, conn *pgx.Conn, t *table, recs []connect.SinkRecord, rows []pending, be *connect.BatchError) error {
	var failed []connect.RecordError
	err := s.inTx(ctx, conn, t, recs, rows, func(todo []pending) error {
		failed = failed[:0]
		pc := conn.PgConn()
		for _, p := range todo {
			if _, err := conn.Exec(ctx, "SAVEPOINT danube_row"); err != nil {
				return err
			}
			_, err := pc.ExecParams(ctx, t.rowSQL, p.vals, nil, nil, nil).Close()
			if err == nil {
				if _, err := conn.Exec(ctx, "RELEASE SAVEPOINT danube_row"); err != nil {
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
			if _, err := conn.Exec(ctx, "ROLLBACK TO SAVEPOINT danube_row"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return classify("write "+t.cfg.Table, err)
	}
	be.Failures = append(be.Failures, failed...)
	return nil
}

// inTx writes rows in one transaction, in three round trips: BEGIN with
// the exactly_once locks and state reads (and the upsert stage table);
// the rows; the upsert merge, the state update and COMMIT. With
// exactly_once only the rows not written yet are written and their offsets
// recorded. perRow, when not nil, writes the rows one by one and records
// the offsets of those written itself; otherwise the rows go in bulk
// (COPY, or COPY into the stage table and one INSERT … ON CONFLICT).
func (s *Sink) inTx(ctx context.Context, conn *pgx.Conn, t *table, recs []connect.SinkRecord, rows []pending, perRow func([]pending) error) (err error) {
	bulkUpsert := perRow == nil && t.cfg.Mode == "upsert"
	parts := s.parts(recs, rows)
	begin := &pgx.Batch{}
	begin.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	queueLoad(begin, s.state, parts)
	if bulkUpsert {
		begin.Queue(t.stageSQL)
	}
	res := conn.SendBatch(ctx, begin)
	defer func() {
		if err != nil && conn.PgConn().TxStatus() != 'I' && !conn.IsClosed() {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	_, err = res.Exec()
	if err == nil {
		err = readLoad(res, parts)
	}
	if err == nil && bulkUpsert {
		_, err = res.Exec()
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	todo := s.unwritten(t, rows)
	commit := &pgx.Batch{}
	if len(todo) > 0 {
		switch {
		case perRow != nil:
			if err := perRow(todo); err != nil {
				return err
			}
		case bulkUpsert:
			if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(copyData(lastPerKey(t, todo))), t.copyStg); err != nil {
				return err
			}
			commit.Queue(t.mergeSQL)
		default:
			if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(copyData(todo)), t.copySQL); err != nil {
				return err
			}
		}
		if perRow == nil {
			for _, r := range todo {
				if r.part != nil {
					r.part.added = append(r.part.added, r.off)
				}
			}
		}
	}
	queueSave(commit, s.state, parts)
	commit.Queue("COMMIT")
	res = conn.SendBatch(ctx, commit)
	for range commit.Len() {
		var tag pgconn.CommandTag
		if tag, err = res.Exec(); err != nil {
			_ = res.Close()
			return err
		}
		if tag.String() == "ROLLBACK" { // COMMIT of a failed transaction
			_ = res.Close()
			return errors.New("transaction rolled back at commit")
		}
	}
	return res.Close()
}

// parts assigns each row its partition state (exactly_once; nil
// otherwise).
func (s *Sink) parts(recs []connect.SinkRecord, rows []pending) []*partState {
	if !s.cfg.ExactlyOnce {
		return nil
	}
	var parts []*partState
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
	return parts
}

// unwritten returns the rows whose offsets the state does not hold yet
// (all rows without exactly_once).
func (s *Sink) unwritten(t *table, rows []pending) []pending {
	if !s.cfg.ExactlyOnce {
		return rows
	}
	todo := make([]pending, 0, len(rows))
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
	return todo
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

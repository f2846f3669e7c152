package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/danube-connect/connect"
)

// The one-round-trip write. A batch goes to the server as one simple query
// whose COPY data follows it on the wire:
//
//	BEGIN; [stage table;] COPY … FROM STDIN; [merge into the target;] [DO state update;] COMMIT
//
// The state update (exactly_once) is a DO block that takes the advisory
// lock of each partition, fails with SQLSTATE DC001 when any offset of the
// batch is already recorded (a redelivery), and records the batch's
// offsets merged with the neighbouring ranges. Taking the lock after the
// COPY is safe: a concurrent writer of the same offsets commits first and
// this transaction then sees its ranges (each statement of a DO block
// reads a fresh snapshot under READ COMMITTED, which the transaction asks
// for whatever the session's default isolation) and rolls back, rows
// included. On DC001, or a row the server rejects, the batch is written
// again by the slower path that reads the state first (inTx) or goes row
// by row.

// sqlStateWritten is raised by the state update for a batch holding
// offsets already written.
const sqlStateWritten = "DC001"

// errNoFastPath sends a batch to the slower path.
var errNoFastPath = errors.New("postgres: batch not eligible for the single round trip")

// fastTx writes rows in one round trip, or fails without writing.
func (s *Sink) fastTx(ctx context.Context, conn *pgx.Conn, t *table, recs []connect.SinkRecord, rows []pending) error {
	pc := conn.PgConn()
	if pc.ParameterStatus("standard_conforming_strings") != "on" {
		return errNoFastPath
	}
	var q strings.Builder
	q.WriteString("BEGIN ISOLATION LEVEL READ COMMITTED;\n")
	var data []byte
	if t.cfg.Mode == "upsert" {
		q.WriteString(t.stageSQL + ";\n" + t.copyStg + ";\n" + t.mergeSQL + ";\n")
		data = copyData(lastPerKey(t, rows))
	} else {
		q.WriteString(t.copySQL + ";\n")
		data = copyData(rows)
	}
	if s.cfg.ExactlyOnce {
		do, ok := s.stateBlock(recs, rows)
		if !ok {
			return errNoFastPath
		}
		q.WriteString(do + ";\n")
	}
	q.WriteString("COMMIT")
	_, err := pc.CopyFrom(ctx, bytes.NewReader(data), q.String())
	if pc.TxStatus() != 'I' && !pc.IsClosed() {
		_, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		if err == nil {
			err = fmt.Errorf("postgres: transaction left open (%v)", rerr)
		}
	}
	return err
}

// stateBlock returns the DO block recording the offsets of rows; ok is
// false when the batch cannot use it (an offset twice in the batch, or
// names that would need escaping beyond quotes).
func (s *Sink) stateBlock(recs []connect.SinkRecord, rows []pending) (string, bool) {
	parts := s.parts(recs, rows)
	offs := map[*partState][]int64{}
	for _, r := range rows {
		offs[r.part] = append(offs[r.part], r.off)
	}
	slices.SortFunc(parts, func(x, y *partState) int {
		return cmpInt(lockKey(s.state, x.key), lockKey(s.state, y.key))
	})
	var b strings.Builder
	b.WriteString("DO $danube$\nDECLARE los bigint[]; his bigint[]; clo bigint; chi bigint;\nBEGIN\n")
	for _, p := range parts {
		b.WriteString("PERFORM pg_advisory_xact_lock(" + strconv.FormatInt(lockKey(s.state, p.key), 10) + ");\n")
	}
	for _, p := range parts {
		o := offs[p]
		slices.Sort(o)
		if len(slices.Compact(slices.Clone(o))) != len(o) {
			return "", false
		}
		sub, ok1 := literal(p.key.sub)
		topic, ok2 := literal(p.key.topic)
		if !ok1 || !ok2 {
			return "", false
		}
		runs := mergeSpans(nil, o)
		where := " WHERE subscription = " + sub + " AND topic = " + topic
		var overlap, values []string
		for _, r := range runs {
			lo, hi := strconv.FormatInt(r.lo, 10), strconv.FormatInt(r.hi, 10)
			overlap = append(overlap, "(first_offset <= "+hi+" AND last_offset >= "+lo+")")
			values = append(values, "("+sub+", "+topic+", "+lo+", "+hi+")")
		}
		near := where + " AND last_offset >= " + strconv.FormatInt(p.lo-1, 10) + " AND first_offset <= " + strconv.FormatInt(p.hi+1, 10)
		fmt.Fprintf(&b, "IF EXISTS (SELECT 1 FROM %s%s AND (%s)) THEN\n", s.state, where, strings.Join(overlap, " OR "))
		fmt.Fprintf(&b, "  RAISE EXCEPTION USING ERRCODE = '%s', MESSAGE = 'danube-connect: offsets of the batch already written';\nEND IF;\n", sqlStateWritten)
		fmt.Fprintf(&b, "INSERT INTO %s (subscription, topic, first_offset, last_offset) VALUES %s;\n", s.state, strings.Join(values, ", "))
		fmt.Fprintf(&b, "SELECT array_agg(first_offset ORDER BY first_offset), array_agg(last_offset ORDER BY first_offset) INTO los, his FROM %s%s;\n", s.state, near)
		fmt.Fprintf(&b, "DELETE FROM %s%s;\n", s.state, near)
		b.WriteString("clo := los[1]; chi := his[1];\n")
		b.WriteString("FOR i IN 2 .. array_length(los, 1) LOOP\n")
		b.WriteString("  IF los[i] <= chi + 1 THEN chi := greatest(chi, his[i]);\n")
		fmt.Fprintf(&b, "  ELSE INSERT INTO %s (subscription, topic, first_offset, last_offset) VALUES (%s, %s, clo, chi); clo := los[i]; chi := his[i];\n  END IF;\nEND LOOP;\n", s.state, sub, topic)
		fmt.Fprintf(&b, "INSERT INTO %s (subscription, topic, first_offset, last_offset) VALUES (%s, %s, clo, chi);\n", s.state, sub, topic)
	}
	b.WriteString("END\n$danube$")
	return b.String(), true
}

// literal quotes s as an SQL string literal (standard_conforming_strings
// on); ok is false for strings it does not take (NUL, '$').
func literal(s string) (string, bool) {
	if strings.ContainsAny(s, "\x00$") {
		return "", false
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", true
}

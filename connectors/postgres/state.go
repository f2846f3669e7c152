package postgres

import (
	"hash/fnv"
	"slices"

	"github.com/jackc/pgx/v5"
)

// The exactly-once state: for each (subscription, partition topic) the
// sink keeps the set of broker offsets whose rows it has committed, as
// disjoint inclusive ranges [first_offset, last_offset] in the state
// table. A batch is written in one transaction that
//
//  1. takes a transaction-scoped advisory lock per (subscription,
//     partition topic) of the batch, so that two writers of one partition
//     (a redelivery racing the original delivery) serialise;
//  2. reads the ranges around the batch's offsets and skips the records
//     already covered;
//  3. writes the other records' rows;
//  4. merges their offsets into the ranges (touching ranges are replaced by
//     their union, so the table stays small: one row per gap, and gaps are
//     only dead-lettered records and batches still in flight);
//  5. commits.
//
// Rows and positions therefore commit or roll back together, whatever the
// order in which offsets arrive.

const stateDDL = `CREATE TABLE IF NOT EXISTS %s (
	subscription text NOT NULL,
	topic text NOT NULL,
	first_offset bigint NOT NULL,
	last_offset bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (subscription, topic, first_offset)
)`

// span is an inclusive range of offsets.
type span struct{ lo, hi int64 }

// partKey names one partition of one subscription.
type partKey struct{ sub, topic string }

// lockKey is the advisory lock id of a partition of a subscription.
func lockKey(state string, k partKey) int64 {
	h := fnv.New64a()
	h.Write([]byte(state))
	h.Write([]byte{0})
	h.Write([]byte(k.sub))
	h.Write([]byte{0})
	h.Write([]byte(k.topic))
	return int64(h.Sum64())
}

// partState is the state of one partition within a transaction.
type partState struct {
	key   partKey
	lo    int64  // least offset of the batch in this partition
	hi    int64  // greatest
	spans []span // stored ranges touching [lo-1, hi+1]
	added []int64
}

func (p *partState) covered(off int64) bool {
	for _, s := range p.spans {
		if off >= s.lo && off <= s.hi {
			return true
		}
	}
	return false
}

// queueLoad queues the locks of the partitions (in a fixed order, so
// concurrent transactions cannot deadlock) and the reads of their stored
// ranges.
func queueLoad(b *pgx.Batch, state string, parts []*partState) {
	slices.SortFunc(parts, func(x, y *partState) int {
		return cmpInt(lockKey(state, x.key), lockKey(state, y.key))
	})
	for _, p := range parts {
		b.Queue("SELECT pg_advisory_xact_lock($1)", lockKey(state, p.key))
	}
	for _, p := range parts {
		b.Queue("SELECT first_offset, last_offset FROM "+state+
			" WHERE subscription = $1 AND topic = $2 AND last_offset >= $3 AND first_offset <= $4 ORDER BY first_offset",
			p.key.sub, p.key.topic, p.lo-1, p.hi+1)
	}
}

// readLoad reads the results queueLoad queued.
func readLoad(res pgx.BatchResults, parts []*partState) error {
	for range parts {
		if _, err := res.Exec(); err != nil {
			return err
		}
	}
	for _, p := range parts {
		rows, err := res.Query()
		if err != nil {
			return err
		}
		p.spans = p.spans[:0]
		for rows.Next() {
			var s span
			if err := rows.Scan(&s.lo, &s.hi); err != nil {
				rows.Close()
				return err
			}
			p.spans = append(p.spans, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// queueSave queues the statements merging the offsets written in this
// transaction into the stored ranges.
func queueSave(b *pgx.Batch, state string, parts []*partState) {
	for _, p := range parts {
		if len(p.added) == 0 {
			continue
		}
		merged := mergeSpans(p.spans, p.added)
		for _, s := range p.spans {
			b.Queue("DELETE FROM "+state+" WHERE subscription = $1 AND topic = $2 AND first_offset = $3", p.key.sub, p.key.topic, s.lo)
		}
		for _, s := range merged {
			b.Queue("INSERT INTO "+state+" (subscription, topic, first_offset, last_offset) VALUES ($1, $2, $3, $4)",
				p.key.sub, p.key.topic, s.lo, s.hi)
		}
	}
}

// mergeSpans returns the union of spans and offs as disjoint ranges, with
// adjacent ranges joined.
func mergeSpans(spans []span, offs []int64) []span {
	all := slices.Clone(spans)
	for _, o := range offs {
		all = append(all, span{o, o})
	}
	slices.SortFunc(all, func(a, b span) int { return cmpInt(a.lo, b.lo) })
	var out []span
	for _, s := range all {
		if n := len(out); n > 0 && s.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, s.hi)
			continue
		}
		out = append(out, s)
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

package deltalake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/parquet-go/parquet-go"
)

// Options are the settings of a Sink that come from outside its section.
type Options struct {
	// Subscriptions maps a topic to the name of its subscription (default:
	// the connector name). The name is part of the txn app id, so it must
	// not change across restarts.
	Subscriptions map[string]string
	// ServiceURL and ClientOptions reach the broker's schema registry for
	// tables with schema_source = "registry".
	ServiceURL string
	// ClientOptions configure the client of ServiceURL.
	ClientOptions []danube.ClientOption
}

// Sink writes records to Delta tables. Create it with [New]. It is safe
// for concurrent use.
type Sink struct {
	cfg  Config
	opts Options

	name   string
	log    *slog.Logger
	tables map[string]*table // by topic, set in Open

	mu      sync.Mutex // guards lastErr
	lastErr error

	// afterCommit, when set (tests), runs after each successful commit,
	// before WriteBatch returns.
	afterCommit func()
}

var (
	_ connect.BatchSink     = (*Sink)(nil)
	_ connect.HealthChecker = (*Sink)(nil)
)

// New returns a sink for cfg (defaults applied, validated).
func New(cfg Config, opts Options) *Sink {
	return &Sink{cfg: cfg, opts: opts}
}

// AppID returns the txn application id of a partition topic's records:
// "danube-connect/<connector>/<subscription>/<partition topic>".
func AppID(connector, subscription, partitionTopic string) string {
	return "danube-connect/" + connector + "/" + subscription + "/" + partitionTopic
}

// Open opens (or creates) every table and checks it against the
// configuration: a table with another schema, partitioning or an
// unsupported protocol is a Configuration error naming each difference.
func (s *Sink) Open(ctx context.Context, env connect.SinkEnv) error {
	s.name = env.Name
	s.log = env.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var problems []error
	for _, t := range s.cfg.Tables {
		if len(env.Topics) > 0 && !slices.Contains(env.Topics, t.Topic) {
			problems = append(problems, fmt.Errorf("table for %s: the connector does not consume that topic (add it to [[topics]])", t.Topic))
		}
	}
	for _, topic := range env.Topics {
		if !slices.ContainsFunc(s.cfg.Tables, func(t Table) bool { return t.Topic == topic }) {
			problems = append(problems, fmt.Errorf("topic %s has no [[deltalake.tables]] entry", topic))
		}
	}
	if len(problems) > 0 {
		return connect.Configuration(fmt.Errorf("deltalake: %w", errors.Join(problems...)))
	}
	s.tables = map[string]*table{}
	for _, tc := range s.cfg.Tables {
		var data []tableColumn
		if tc.SchemaSource == "registry" {
			var err error
			if data, err = s.registryColumns(ctx, tc.SchemaSubject); err != nil {
				return err
			}
		}
		t, err := openTable(ctx, tc, &s.cfg, data, s.log.With("topic", tc.Topic))
		if err != nil {
			return err
		}
		s.tables[tc.Topic] = t
		s.log.Info("deltalake table open", "topic", tc.Topic, "table", t.st.String(), "version", t.snap.version, "exactly_once", s.cfg.ExactlyOnce)
	}
	return nil
}

// Write writes one record.
func (s *Sink) Write(ctx context.Context, rec connect.SinkRecord) error {
	return s.WriteBatch(ctx, []connect.SinkRecord{rec})
}

// WriteBatch writes the records of each table as Parquet files (one per
// partition value) and commits them in one Delta commit with a txn action
// per partition topic, then returns. Records at or below a partition's
// committed txn version were written before: they are skipped (and so
// acked). A record that does not fit the table is InvalidData in a
// *connect.BatchError; the others are committed. Storage failures are
// retried here, with backoff, until ctx ends: returning them would let the
// runtime move on to later records and a later txn version would then hide
// the failed ones.
func (s *Sink) WriteBatch(ctx context.Context, recs []connect.SinkRecord) error {
	be := &connect.BatchError{}
	byTable := map[*table][]int{}
	for i := range recs {
		t := s.tables[recs[i].Topic]
		if t == nil {
			be.Add(i, connect.InvalidData(fmt.Errorf("deltalake: no table for topic %s", recs[i].Topic)))
			continue
		}
		byTable[t] = append(byTable[t], i)
	}
	for t, idx := range byTable {
		if err := s.writeRetrying(ctx, t, recs, idx, be); err != nil {
			return err
		}
	}
	if len(be.Failures) > 0 {
		return be
	}
	return nil
}

func (s *Sink) writeRetrying(ctx context.Context, t *table, recs []connect.SinkRecord, idx []int, be *connect.BatchError) error {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		failed := &connect.BatchError{}
		err := s.write(ctx, t, recs, idx, failed)
		if err == nil {
			be.Failures = append(be.Failures, failed.Failures...)
			s.setErr(nil)
			return nil
		}
		if errors.Is(err, errTxnMoved) {
			continue // another writer committed some of these: prepare again
		}
		if c := connect.ClassOf(err); c == connect.ClassFatal || c == connect.ClassConfiguration {
			return err
		}
		s.setErr(err)
		if ctx.Err() != nil {
			return connect.Retryable(err)
		}
		s.log.Warn("deltalake write failed, retrying", "table", t.st.String(), "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return connect.Retryable(err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// write prepares, writes and commits one table's records once.
func (s *Sink) write(ctx context.Context, t *table, recs []connect.SinkRecord, idx []int, be *connect.BatchError) error {
	// The committed txn version of each partition topic in the batch.
	var ids []string
	idOf := make([]int, len(idx))
	for j, i := range idx {
		id := AppID(s.name, s.subscription(recs[i].Topic), recs[i].PartitionTopic)
		k := slices.Index(ids, id)
		if k < 0 {
			k = len(ids)
			ids = append(ids, id)
		}
		idOf[j] = k
	}
	offsets := make([]uint64, len(idx))
	for j, i := range idx {
		offsets[j] = recs[i].Offset
	}
	var done []bool
	floors := map[string]int64{}
	if s.cfg.ExactlyOnce {
		done, floors = t.committedFlags(ids, idOf, offsets)
	}
	type group struct {
		part []string
		rows []parquet.Row
	}
	var groups []*group
	written := map[string][]uint64{}
	for j, i := range idx {
		rec := &recs[i]
		row, part, err := t.enc.row(rec)
		if err != nil {
			// Also when below the txn version: a poison record redelivered
			// after a crash goes to the dead-letter queue again.
			be.Add(i, err)
			continue
		}
		if done != nil && done[j] {
			continue // committed before: acked without writing it again
		}
		gi := slices.IndexFunc(groups, func(g *group) bool { return slices.Equal(g.part, part) })
		if gi < 0 {
			gi = len(groups)
			groups = append(groups, &group{part: part})
		}
		groups[gi].rows = append(groups[gi].rows, row)
		if s.cfg.ExactlyOnce {
			id := ids[idOf[j]]
			written[id] = append(written[id], rec.Offset)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	adds := make([]*addAction, 0, len(groups))
	for _, g := range groups {
		data, nulls, err := t.enc.encodeFile(g.rows)
		if err != nil {
			return connect.Fatal(fmt.Errorf("deltalake: encode data file: %w", err))
		}
		path, uri := t.dataPath(g.part)
		if err := t.st.Create(ctx, path, data); err != nil {
			return fmt.Errorf("deltalake: write %s/%s: %w", t.st, path, err)
		}
		pv := make(map[string]*string, len(g.part))
		for k, name := range t.schema.Partition {
			pv[name] = &g.part[k]
		}
		st, _ := jsonString(stats{NumRecords: int64(len(g.rows)), NullCount: nulls})
		adds = append(adds, &addAction{Path: uri, PartitionValues: pv, Size: int64(len(data)),
			ModificationTime: time.Now().UnixMilli(), DataChange: true, Stats: st})
	}
	if err := t.commit(ctx, adds, written, floors); err != nil {
		return err
	}
	if s.afterCommit != nil {
		s.afterCommit()
	}
	return nil
}

func (s *Sink) subscription(topic string) string {
	if sub := s.opts.Subscriptions[topic]; sub != "" {
		return sub
	}
	return s.name
}

func (s *Sink) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// HealthCheck reports the last storage failure while writes are being
// retried.
func (s *Sink) HealthCheck(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr != nil {
		return fmt.Errorf("deltalake: %w", s.lastErr)
	}
	return nil
}

// Close releases nothing: every acked record is committed.
func (s *Sink) Close(context.Context) error { return nil }

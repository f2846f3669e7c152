package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/danube-connect/connect/connectors/postgres"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/pgtest"
)

// db is one fresh database on a private server.
type db struct {
	srv  *pgtest.Server
	name string
}

var tableSeq atomic.Int64

func newDB(t testing.TB, srv *pgtest.Server) *db {
	t.Helper()
	if srv == nil {
		srv = pgtest.Start(t, pgtest.Options{})
	}
	return &db{srv: srv, name: srv.CreateDB(t)}
}

func (d *db) dsn() string { return d.srv.DSN(d.name) }

// freshTable returns a new table name.
func freshTable(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, tableSeq.Add(1))
}

func (d *db) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	d.srv.Exec(t, d.name, sql, args...)
}

func (d *db) conn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, d.dsn())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func (d *db) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := d.conn(t).QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// strings runs a query of one text column.
func (d *db) strings(t testing.TB, sql string, args ...any) []string {
	t.Helper()
	rows, err := d.conn(t).Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// cfg returns a configuration writing topic to table.
func (d *db) cfg(tbl postgres.Table) postgres.Config {
	return postgres.Config{
		DSN:         d.dsn(),
		MaxConns:    4,
		ExactlyOnce: true,
		StateTable:  "danube_connect_offsets",
		Tables:      []postgres.Table{withDefaults(tbl)},
	}
}

func withDefaults(t postgres.Table) postgres.Table {
	if t.Topic == "" {
		t.Topic = "*"
	}
	if t.Mode == "" {
		t.Mode = "insert"
	}
	if t.PayloadColumn == "" {
		t.PayloadColumn = "payload"
	}
	return t
}

// startBroker starts a devbroker with a window of window unacknowledged
// messages per subscription.
func startBroker(t testing.TB, window int) *devbroker.Broker {
	t.Helper()
	b, err := devbroker.Start(context.Background(), devbroker.Config{
		DataDir:            t.TempDir(),
		Sync:               devbroker.SyncNever,
		MaxUnackedMessages: window,
		TimerTick:          5 * time.Millisecond,
		FailurePolicy: devbroker.FailurePolicy{
			AckTimeout:          2 * time.Second,
			BaseRedeliveryDelay: time.Millisecond,
			MaxRedeliveryDelay:  50 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatalf("start devbroker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

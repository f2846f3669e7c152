package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danube-connect/connect/internal/pgtest"
)

// TestPostgresConfigurationExitCode: a PostgreSQL sink whose table is
// missing, or lacks a mapped column, stops the command with exit code 2
// and a message naming what is wrong; the table is left as it was.
func TestPostgresConfigurationExitCode(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	db := srv.CreateDB(t)
	srv.Exec(t, db, "CREATE TABLE present (id int)")
	for _, tc := range []struct{ name, table, columns, want string }{
		{"missing table", "absent", `{ id = "id" }`, "table absent (topic /default/pg) does not exist"},
		{"missing column", "present", `{ id = "id", name = "name" }`, "table present has no column name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "sink.toml")
			writeFile(t, cfg, fmt.Sprintf(`connector_name = "pg-sink"
connector = "postgres"

[[topics]]
topic = "/default/pg"

[observability]
http_addr = "off"

[postgres]
host = "127.0.0.1"
port = %d
database = %q
password = "${PGTEST_PASSWORD}"
sslmode = "disable"

[[postgres.tables]]
topic = "/default/pg"
table = %q
columns = %s
`, srv.Port, db, tc.table, tc.columns))
			r := runCLI(t, t.Context(), []string{"PGTEST_PASSWORD=" + pgtest.Password}, "run", "--devbroker", "-c", cfg)
			if r.code != 2 || !strings.Contains(r.stderr.String(), tc.want) {
				t.Fatalf("exit %d, want 2 with %q; stderr:\n%s", r.code, tc.want, r.stderr)
			}
		})
	}
}

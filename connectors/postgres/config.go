package postgres

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/danube-connect/connect"
)

// Config is the [postgres] section.
type Config struct {
	DSN         string  `config:"dsn" secret:"true" doc:"Connection URL or key=value string (postgres://user:pass@host:5432/db?sslmode=verify-full); when set, the discrete connection keys below are ignored except password, sslmode and sslrootcert when given."`
	Host        string  `config:"host" default:"127.0.0.1" doc:"Server host name or address."`
	Port        int     `config:"port" default:"5432" min:"1" max:"65535" doc:"Server port."`
	Database    string  `config:"database" default:"postgres" doc:"Database name."`
	User        string  `config:"user" default:"postgres" doc:"Role to connect as."`
	Password    string  `config:"password" secret:"true" doc:"Password; write \"${PGPASSWORD}\" to read it from the environment."`
	SSLMode     string  `config:"sslmode" enum:"disable,allow,prefer,require,verify-ca,verify-full" doc:"TLS mode, as libpq's sslmode (default: from the DSN, else prefer). verify-full checks the certificate chain against sslrootcert and the host name."`
	SSLRootCert string  `config:"sslrootcert" doc:"PEM file of the certificate authorities trusted for verify-ca and verify-full."`
	MaxConns    int     `config:"max_conns" default:"4" min:"1" max:"1000" doc:"Most pooled connections."`
	ExactlyOnce bool    `config:"exactly_once" default:"true" doc:"Write each batch and the consumed offsets in one transaction and skip records already written, so redeliveries never add rows (see the README)."`
	StateTable  string  `config:"state_table" default:"danube_connect_offsets" doc:"Table the sink owns for exactly_once: written offset ranges per subscription and topic partition; created when missing."`
	Tables      []Table `config:"tables" doc:"Target table of each topic ([[postgres.tables]])."`
}

// Table maps the records of one topic to one table.
type Table struct {
	Topic         string            `config:"topic" required:"true" doc:"Topic (/namespace/name, without -part-N) whose records go to this table; \"*\" takes the topics without an entry of their own."`
	Table         string            `config:"table" required:"true" doc:"Target table, optionally schema-qualified (public.orders); quoted as written, so use the exact (usually lower-case) name."`
	Mode          string            `config:"mode" default:"insert" enum:"insert,upsert,jsonb" doc:"insert (COPY), upsert (INSERT … ON CONFLICT on key_columns, updating the other columns) or jsonb (the whole payload into payload_column)."`
	Columns       map[string]string `config:"columns" doc:"Column = source: a dotted path into the JSON payload or the schema-registry value (\"customer.name\"), or a metadata reference @topic, @partition, @offset, @publish_time, @record_id, @key, @attributes (JSONB), @payload. A path may end in ::type (\"amount::numeric\"), the column type used by auto_create. Values are sent as text and converted by PostgreSQL's input rules; a missing field is NULL."`
	KeyColumns    []string          `config:"key_columns" doc:"Conflict columns of upsert mode; a unique index on exactly these columns must exist."`
	PayloadColumn string            `config:"payload_column" default:"payload" doc:"JSONB column of jsonb mode receiving the whole payload."`
	AutoCreate    bool              `config:"auto_create" doc:"Create the table when it does not exist (CREATE TABLE IF NOT EXISTS; key_columns become the primary key). Existing tables are never altered or dropped."`
}

// Validate checks the section.
func (c *Config) Validate() error {
	if len(c.Tables) == 0 {
		return errors.New("at least one [[postgres.tables]] entry is needed")
	}
	seen := map[string]bool{}
	for i := range c.Tables {
		t := &c.Tables[i]
		if seen[t.Topic] {
			return fmt.Errorf("topic %s has two tables", t.Topic)
		}
		seen[t.Topic] = true
		if _, err := t.columns(); err != nil {
			return err
		}
	}
	if c.ExactlyOnce && strings.TrimSpace(c.StateTable) == "" {
		return errors.New("exactly_once needs a state_table")
	}
	return nil
}

// poolConfig builds the pgxpool configuration. sslmode and sslrootcert
// are handed to pgx's own parser, which follows libpq.
func (c *Config) poolConfig() (*pgxpool.Config, error) {
	dsn := c.DSN
	tlsParams := url.Values{}
	if c.SSLMode != "" {
		tlsParams.Set("sslmode", c.SSLMode)
	}
	if c.SSLRootCert != "" {
		tlsParams.Set("sslrootcert", c.SSLRootCert)
	}
	switch {
	case dsn == "":
		u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), Path: "/" + c.Database, User: url.User(c.User)}
		u.RawQuery = tlsParams.Encode()
		dsn = u.String()
	case strings.Contains(dsn, "://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, errors.New("postgres: the dsn does not parse as a URL")
		}
		q := u.Query()
		for k, v := range tlsParams {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		dsn = u.String()
	default:
		for k, v := range tlsParams {
			dsn += " " + k + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v[0]) + "'"
		}
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN with its password: name the
		// problem only.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			return nil, fmt.Errorf("postgres: the connection settings do not parse: %v", pe.Unwrap())
		}
		return nil, errors.New("postgres: the connection settings do not parse")
	}
	if c.Password != "" {
		pc.ConnConfig.Password = c.Password
	}
	pc.MaxConns = int32(max(c.MaxConns, 1))
	if pc.ConnConfig.RuntimeParams["application_name"] == "" {
		pc.ConnConfig.RuntimeParams["application_name"] = "danube-connect"
	}
	return pc, nil
}

// source kinds of a column.
const (
	srcPath = iota
	srcTopic
	srcPartition
	srcOffset
	srcPublishTime
	srcRecordID
	srcKey
	srcAttributes
	srcPayload
)

var metaSources = map[string]struct {
	kind int
	typ  string
}{
	"@topic":        {srcTopic, "text"},
	"@partition":    {srcPartition, "integer"},
	"@offset":       {srcOffset, "bigint"},
	"@publish_time": {srcPublishTime, "timestamptz"},
	"@record_id":    {srcRecordID, "text"},
	"@key":          {srcKey, "text"},
	"@attributes":   {srcAttributes, "jsonb"},
	"@payload":      {srcPayload, "jsonb"},
}

// column is one mapped target column.
type column struct {
	name  string
	kind  int
	path  []string
	gpath string // path in gjson syntax
	typ   string // for auto_create
}

// columns returns the table's mapped columns sorted by name (jsonb mode
// first puts the payload column).
func (t *Table) columns() ([]column, error) {
	var out []column
	if t.Mode == "jsonb" {
		if t.PayloadColumn == "" {
			return nil, fmt.Errorf("table %s: jsonb mode needs payload_column", t.Table)
		}
		out = append(out, column{name: t.PayloadColumn, kind: srcPayload, typ: "jsonb"})
	}
	names := make([]string, 0, len(t.Columns))
	for n := range t.Columns {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		src := strings.TrimSpace(t.Columns[n])
		if n == "" || src == "" {
			return nil, fmt.Errorf("table %s: column %q has no source", t.Table, n)
		}
		if n == t.PayloadColumn && t.Mode == "jsonb" {
			return nil, fmt.Errorf("table %s: column %s is the payload column of jsonb mode", t.Table, n)
		}
		if strings.HasPrefix(src, "@") {
			m, ok := metaSources[src]
			if !ok {
				return nil, fmt.Errorf("table %s: column %s: unknown metadata %s (want @topic, @partition, @offset, @publish_time, @record_id, @key, @attributes or @payload)", t.Table, n, src)
			}
			out = append(out, column{name: n, kind: m.kind, typ: m.typ})
			continue
		}
		if t.Mode == "jsonb" {
			return nil, fmt.Errorf("table %s: jsonb mode maps only metadata columns (@…), not %s = %q", t.Table, n, src)
		}
		typ := "text"
		if i := strings.Index(src, "::"); i >= 0 {
			src, typ = strings.TrimSpace(src[:i]), strings.TrimSpace(src[i+2:])
			if typ == "" || strings.ContainsAny(typ, ";'\"") {
				return nil, fmt.Errorf("table %s: column %s: bad type %q", t.Table, n, typ)
			}
		}
		path := strings.Split(src, ".")
		if slices.Contains(path, "") {
			return nil, fmt.Errorf("table %s: column %s: bad path %q", t.Table, n, src)
		}
		out = append(out, column{name: n, kind: srcPath, path: path, gpath: gjsonPath(path), typ: typ})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("table %s: no columns mapped", t.Table)
	}
	if t.Mode == "upsert" {
		if len(t.KeyColumns) == 0 {
			return nil, fmt.Errorf("table %s: upsert mode needs key_columns", t.Table)
		}
		for _, k := range t.KeyColumns {
			if !slices.ContainsFunc(out, func(c column) bool { return c.name == k }) {
				return nil, fmt.Errorf("table %s: key column %s is not mapped in columns", t.Table, k)
			}
		}
	}
	return out, nil
}

// configErr marks a configuration problem.
func configErr(format string, args ...any) error {
	return connect.Configuration(fmt.Errorf(format, args...))
}

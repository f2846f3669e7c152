package deltalake

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/danube-connect/connect/config"
)

// Config is the [deltalake] section.
type Config struct {
	Tables             []Table `config:"tables" doc:"One Delta table per topic ([[deltalake.tables]])."`
	S3                 S3      `config:"s3" doc:"S3-compatible object storage for s3:// table URIs; credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or the other sources of the AWS SDK's default chain)."`
	CheckpointInterval int     `config:"checkpoint_interval" default:"100" min:"1" doc:"Write a checkpoint (Parquet checkpoint file and _delta_log/_last_checkpoint) every this many table versions."`
	Compression        string  `config:"compression" default:"snappy" enum:"snappy,zstd,gzip,none" doc:"Compression of the Parquet data files."`
	ExactlyOnce        bool    `config:"exactly_once" default:"true" doc:"Skip records at or below the offset each partition's txn action recorded (exactly-once per partition). Needs processing.parallelism = 1 and one connector instance per subscription; false writes at least once and allows parallelism."`
}

// Table maps one topic to one Delta table.
type Table struct {
	Topic            string   `config:"topic" required:"true" doc:"Topic whose records go to the table, /namespace/name (one of [[topics]]); all its partitions."`
	TableURI         string   `config:"table_uri" required:"true" doc:"Table location: a directory path, file:///path or s3://bucket/prefix. A missing table is created."`
	SchemaSource     string   `config:"schema_source" default:"fields" enum:"fields,registry,table" doc:"Where the data columns come from: fields (the [[deltalake.tables.fields]] list), registry (the latest JSON Schema or Avro schema of schema_subject) or table (the existing table's schema, minus the metadata columns)."`
	SchemaSubject    string   `config:"schema_subject" doc:"Registry subject whose latest schema (json_schema or avro) defines the columns when schema_source = \"registry\"; top-level fields only."`
	Fields           []Field  `config:"fields" doc:"Data columns when schema_source = \"fields\" ([[deltalake.tables.fields]])."`
	MetadataColumns  []string `config:"metadata_columns" default:"topic,partition,offset,publish_time,record_id" doc:"Record metadata written as columns, any of topic (_danube_topic string), partition (_danube_partition integer, -1 when not partitioned), offset (_danube_offset long), publish_time (_danube_publish_time timestamp, the broker's publish time), record_id (_danube_record_id string: the x-record-id attribute, else \"{partition topic}#{offset}\"). Empty for none."`
	PartitionColumns []string `config:"partition_columns" doc:"Columns the table is partitioned by (data or metadata columns of type string, long, integer, boolean or date; not nullable)."`
	WriteMode        string   `config:"write_mode" default:"append" enum:"append" doc:"Only append: merge by key is not supported (it needs a read-modify-write of data files that the sink does not do)."`
}

// Field is one data column: where its value is in the record and its
// Delta type.
type Field struct {
	Path     string `config:"path" required:"true" doc:"Dot-separated path of the value in the record's JSON object (or decoded registry value), e.g. \"user.id\"; a leading \"$.\" is allowed."`
	Column   string `config:"column" doc:"Column name (default: the last element of path)."`
	Type     string `config:"type" required:"true" enum:"string,long,integer,double,float,boolean,timestamp,date,binary" doc:"Delta type. timestamp takes an RFC 3339 string or epoch milliseconds, date \"YYYY-MM-DD\", binary base64."`
	Nullable bool   `config:"nullable" default:"true" doc:"Whether the value may be missing or null; a missing value of a non-nullable column dead-letters the record."`
}

// S3 configures the S3 client.
type S3 struct {
	Endpoint  string `config:"endpoint" doc:"Endpoint URL of an S3-compatible server, e.g. http://127.0.0.1:9000 (default: AWS)."`
	Region    string `config:"region" default:"us-east-1" doc:"Region."`
	PathStyle bool   `config:"path_style" doc:"Address buckets as endpoint/bucket instead of bucket.endpoint (most S3-compatible servers need it)."`
}

// Metadata column names.
const (
	ColTopic       = "_danube_topic"
	ColPartition   = "_danube_partition"
	ColOffset      = "_danube_offset"
	ColPublishTime = "_danube_publish_time"
	ColRecordID    = "_danube_record_id"
)

var metaColumns = map[string]tableColumn{
	"topic":        {Name: ColTopic, Type: TypeString, Meta: "topic"},
	"partition":    {Name: ColPartition, Type: TypeInteger, Meta: "partition"},
	"offset":       {Name: ColOffset, Type: TypeLong, Meta: "offset"},
	"publish_time": {Name: ColPublishTime, Type: TypeTimestamp, Meta: "publish_time"},
	"record_id":    {Name: ColRecordID, Type: TypeString, Nullable: true, Meta: "record_id"},
}

// Validate checks the section as a whole.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Tables) == 0 {
		errs = append(errs, config.Errorf("tables", "at least one [[deltalake.tables]] is required"))
	}
	seen := map[string]bool{}
	for i, t := range c.Tables {
		if seen[t.Topic] {
			errs = append(errs, config.Errorf(fmt.Sprintf("tables[%d].topic", i), "%q has two tables", t.Topic))
		}
		seen[t.Topic] = true
	}
	return errors.Join(errs...)
}

// Validate checks one table mapping.
func (t *Table) Validate() error {
	var errs []error
	switch t.SchemaSource {
	case "fields":
		if len(t.Fields) == 0 {
			errs = append(errs, config.Errorf("fields", "at least one field is required when schema_source is fields"))
		}
	case "registry":
		if t.SchemaSubject == "" {
			errs = append(errs, config.Errorf("schema_subject", "required when schema_source is registry"))
		}
	}
	if t.SchemaSource != "fields" && len(t.Fields) > 0 {
		errs = append(errs, config.Errorf("fields", "only used when schema_source is fields (it is %s)", t.SchemaSource))
	}
	for _, m := range t.MetadataColumns {
		if _, ok := metaColumns[m]; !ok {
			errs = append(errs, config.Errorf("metadata_columns", "%q is not one of topic, partition, offset, publish_time, record_id", m))
		}
	}
	if t.SchemaSource == "fields" {
		if _, err := t.schema(nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// column returns the column of a field.
func (f *Field) column() tableColumn {
	path := strings.TrimPrefix(f.Path, "$.")
	parts := strings.Split(path, ".")
	name := f.Column
	if name == "" {
		name = parts[len(parts)-1]
	}
	return tableColumn{Name: name, Type: f.Type, Nullable: f.Nullable, Path: parts}
}

// schema builds the table schema: the data columns (the fields, or data
// when not nil), then the metadata columns. It reports duplicate names and
// unusable partition columns as configuration problems.
func (t *Table) schema(data []tableColumn) (*tableSchema, error) {
	s := &tableSchema{Partition: t.PartitionColumns}
	if data == nil {
		for _, f := range t.Fields {
			s.Columns = append(s.Columns, f.column())
		}
	} else {
		s.Columns = append(s.Columns, data...)
	}
	for _, m := range t.MetadataColumns {
		if c, ok := metaColumns[m]; ok {
			s.Columns = append(s.Columns, c)
		}
	}
	var errs []error
	names := map[string]bool{}
	for _, c := range s.Columns {
		if c.Name == "" || strings.ContainsAny(c.Name, " ,;{}()\n\t=") {
			errs = append(errs, config.Errorf("fields", "column name %q is not allowed (empty, or with one of \" ,;{}()=\")", c.Name))
		}
		if names[c.Name] {
			errs = append(errs, config.Errorf("fields", "column %q is defined twice", c.Name))
		}
		names[c.Name] = true
	}
	for _, p := range t.PartitionColumns {
		i := slices.IndexFunc(s.Columns, func(c tableColumn) bool { return c.Name == p })
		switch {
		case i < 0:
			errs = append(errs, config.Errorf("partition_columns", "%q is not a column", p))
		case !slices.Contains(partitionTypes, s.Columns[i].Type):
			errs = append(errs, config.Errorf("partition_columns", "%q has type %s; partition columns must be string, long, integer, boolean or date", p, s.Columns[i].Type))
		case s.Columns[i].Nullable:
			errs = append(errs, config.Errorf("partition_columns", "%q is nullable; partition columns must not be", p))
		}
	}
	if len(t.PartitionColumns) > 0 && len(t.PartitionColumns) == len(s.Columns) {
		errs = append(errs, config.Errorf("partition_columns", "every column is a partition column; at least one must be stored in the data files"))
	}
	return s, errors.Join(errs...)
}

// Package deltalake is a sink connector writing Danube topics into Delta
// Lake tables: Parquet data files and a JSON transaction log the sink
// writes itself, in a local directory or an S3-compatible bucket.
//
// # Protocol
//
// Tables the sink creates use reader version 1 and writer version 2
// without table features (see [ReaderVersion]); it writes to existing
// tables of at most those versions. Each commit is the next log version,
// written with put-if-absent (a hard link of a fsynced temporary file on
// local disk, PutObject with If-None-Match: "*" on S3, which the server
// must honour — checked at start), so concurrent writers, delta-rs
// included, never overwrite each other: the one that loses re-reads the
// log and commits as the following version. Every checkpoint_interval
// versions the sink writes a Parquet checkpoint and _last_checkpoint; at
// start it reads the latest checkpoint and the commits after it.
//
// # Exactly once
//
// Each commit carries, for each partition topic of the batch, a txn action
// with the app id [AppID](connector, subscription, partition topic) and
// the batch's last Danube offset of that partition as version. At start
// and on every batch the sink reads these versions and skips (and so
// acks) records at or below them: a crash between the commit and the ack
// redelivers records the table already holds, and they are not written
// again. This holds when each partition's records are written in offset
// order by one writer: processing.parallelism = 1 (the default) and one
// connector instance per subscription. A record that does not fit the
// table is dead-lettered without failing its neighbours; it is not
// covered by the txn version, so a redelivered poison record is
// dead-lettered again. Storage failures are retried inside WriteBatch
// until the drain deadline, so no later record is committed past a
// failed one.
//
// # Table mapping
//
// Data columns come from a list of fields (JSON path, column, type,
// nullable), from the latest JSON Schema or Avro schema of a registry
// subject, or from the existing table. Metadata columns hold the topic,
// partition, offset, broker publish time and record id. Writes append; merge
// by key is not supported.
//
// # File sizes
//
// A commit holds the records of one runtime batch (batch_size,
// batch_timeout_ms, batch_max_bytes), one file per partition value. There
// is no minimum file size or commit interval: the sink may ack only what
// it committed, so holding records back to grow a file would only add
// latency — with the broker's window of 10 unacked messages no more
// records arrive while the sink waits. Small files are compacted by a
// Delta maintenance job (delta-rs optimize), which the protocol allows
// next to the sink.
package deltalake

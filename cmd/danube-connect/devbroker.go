package main

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/observe"
)

func newDevbrokerCmd(c *cli) *cobra.Command {
	var addr, dataDir, sync, certFile, keyFile, jwtSecret, logLevel string
	var maxUnacked int
	var retentionBytes, segmentBytes, cacheBytes int64
	var retentionTime time.Duration
	cmd := &cobra.Command{
		Use:   "devbroker",
		Short: "Run a development Danube broker until SIGINT/SIGTERM",
		Long: `Devbroker runs an embedded, wire-compatible Danube broker for development and
tests: producers, consumers, subscriptions, reliable topics and the schema
registry. It prints the URL clients should use and runs until SIGINT or
SIGTERM. Without --data-dir everything is kept in memory. Like a Danube
broker with its default settings, it lets a reliable subscription hold 10
unacknowledged messages; --max-unacked changes that window.

Messages every subscription acknowledged are deleted beyond the retention
(--retention-bytes per topic, --retention-time); unacknowledged ones never are.
With --data-dir messages are read back from disk and memory holds only a small
cache per topic (--read-cache-bytes), so memory stays flat under load.

--jwt-secret (or ` + envJWTSecret + `) requires an HS256 JWT bearer token signed with
the secret on every call, like a Danube broker in tls auth mode. The token
must carry the claims ` + devbroker.TokenClaims + `
(exp in Unix seconds, accepted up to 60 s after it; principal_type one of
service_account, user, broker_internal). "danube-connect token" mints one. A
refused token fails with UNAUTHENTICATED "Invalid token: <reason>", naming the
missing claim or the failed check.`,
		Example: `  danube-connect devbroker
  danube-connect devbroker --addr 127.0.0.1:6650 --data-dir ./broker-data --sync every
  danube-connect devbroker --max-unacked 1000
  danube-connect devbroker --tls-cert cert.pem --tls-key key.pem --jwt-secret s3cret`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxUnacked < 1 || maxUnacked > 10000 {
				return usagef("--max-unacked %d: want 1..10000", maxUnacked)
			}
			cfg := devbroker.Config{Addr: addr, DataDir: dataDir, MaxUnackedMessages: maxUnacked,
				Logger:         observe.NewLogger(c.stderr, "text", levelOf(logLevel)),
				RetentionBytes: retentionBytes, RetentionTime: retentionTime, SegmentBytes: segmentBytes, ReadCacheBytes: cacheBytes}
			if segmentBytes <= 0 || cacheBytes <= 0 {
				return usagef("--segment-bytes and --read-cache-bytes must be positive")
			}
			if retentionBytes == 0 || retentionTime == 0 {
				return usagef("--retention-bytes and --retention-time: use a negative value for no limit, not 0")
			}
			switch sync {
			case "batched":
				cfg.Sync = devbroker.SyncBatched
			case "every":
				cfg.Sync = devbroker.SyncEveryPublish
			case "never":
				cfg.Sync = devbroker.SyncNever
			default:
				return usagef("--sync %q: want every, batched or never", sync)
			}
			if (certFile == "") != (keyFile == "") {
				return usagef("--tls-cert and --tls-key go together")
			}
			if certFile != "" {
				cert, err := tls.LoadX509KeyPair(certFile, keyFile)
				if err != nil {
					return usagef("load TLS key pair: %v", err)
				}
				cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			}
			if jwtSecret == "" {
				jwtSecret = c.getenv(envJWTSecret)
			}
			if jwtSecret != "" {
				cfg.JWTSecret = []byte(jwtSecret)
			}
			ctx := cmd.Context()
			b, err := devbroker.Start(ctx, cfg)
			if err != nil {
				return fmt.Errorf("start devbroker: %w", err)
			}
			fmt.Fprintf(c.stdout, "Danube devbroker running. Clients use: %s\n", b.URL())
			if c.started != nil {
				c.started(b.URL())
			}
			<-ctx.Done()
			fmt.Fprintln(c.stderr, "stopping devbroker")
			return b.Close()
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:6650", "listen address (port 0 picks a free port)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for persistent state (default: in memory)")
	cmd.Flags().StringVar(&sync, "sync", "batched", "fsync policy of reliable topics: every, batched or never")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "PEM certificate: serve TLS (with --tls-key)")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "PEM private key of --tls-cert")
	cmd.Flags().StringVar(&jwtSecret, "jwt-secret", "", "require HS256 JWT bearer tokens signed with this secret (env "+envJWTSecret+"; see danube-connect token)")
	cmd.Flags().IntVar(&maxUnacked, "max-unacked", 10, "unacknowledged messages a reliable subscription may hold (a Danube broker's max_unacked_messages; 1..10000)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().Int64Var(&retentionBytes, "retention-bytes", 4<<20, "per topic, acknowledged messages kept beyond this many bytes are deleted (negative: no size limit)")
	cmd.Flags().DurationVar(&retentionTime, "retention-time", 10*time.Minute, "acknowledged messages older than this are deleted (negative: no time limit)")
	cmd.Flags().Int64Var(&segmentBytes, "segment-bytes", 1<<20, "size of the segment files of reliable topics with --data-dir (the unit of deletion)")
	cmd.Flags().Int64Var(&cacheBytes, "read-cache-bytes", 1<<20, "per topic with --data-dir, the recent messages kept in memory")
	return cmd
}

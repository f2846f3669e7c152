package danube

import (
	"context"
	"log/slog"
	"time"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// healthTarget is a producer partition or a consumer partition as seen by
// the health loop.
type healthTarget interface {
	// healthState returns the current route, broker id, generation and
	// health client.
	healthState() (r route, id, gen uint64, hc danubepb.HealthCheckClient)
	nextID() uint64
	// renew re-looks up the topic and recreates the producer or re-subscribes
	// the consumer, unless generation gen was already replaced.
	renew(ctx context.Context, gen uint64, reason string) error
}

// transportFailuresBeforeRenew is how many consecutive failed health checks
// make the loop re-lookup and recreate, in case the broker moved for good.
const transportFailuresBeforeRenew = 3

// runHealth pings the broker every interval until ctx ends. CLOSE answers
// (this broker no longer serves the id) renew the target. Transport errors
// never stop the loop: it keeps pinging at the interval and, after a few
// consecutive failures, tries to renew through a fresh lookup; when the
// broker comes back its CLOSE (or OK) answer settles the state.
func runHealth(ctx context.Context, c *Client, t healthTarget, kind danubepb.HealthCheckRequest_ClientType, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	timeout := max(interval, 5*time.Second)
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r, id, gen, hc := t.healthState()
		cctx, cancel := context.WithTimeout(topicCtx(ctx, r), timeout)
		resp, err := hc.HealthCheck(cctx, &danubepb.HealthCheckRequest{RequestId: t.nextID(), Client: kind, Id: id})
		cancel()
		if ctx.Err() != nil {
			return
		}
		o := c.outageFor(r.connect.key)
		switch {
		case err != nil:
			failures++
			werr := wrapErr(ctx, "health check", err)
			if c.unreachable(r.connect.key, werr) {
				o.observed(werr) // one line per outage, not per failed check
			} else {
				lvl := slog.LevelDebug
				if failures == 1 {
					lvl = slog.LevelWarn
				}
				log.Log(ctx, lvl, "health check failed", "broker", r.connect.key, "failures", failures, "error", err)
			}
			if failures >= transportFailuresBeforeRenew {
				if err := t.renew(ctx, gen, "health check unreachable"); err != nil && ctx.Err() == nil {
					log.Debug("renew after failed health checks did not succeed", "error", err)
				} else if err == nil {
					failures = 0
				}
			}
		case resp.GetStatus() == danubepb.HealthCheckResponse_CLOSE:
			o.reached()
			failures = 0
			if err := t.renew(ctx, gen, "broker answered CLOSE"); err != nil && ctx.Err() == nil {
				log.Warn("renew after CLOSE failed; retrying at the next health check", "error", err)
			}
		default:
			o.reached()
			failures = 0
		}
	}
}

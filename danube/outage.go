package danube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
)

// outageProbe is the longest wait between two attempts to reach a broker
// that is unreachable: the client probes it at least once per second.
const outageProbe = time.Second

// outage tracks whether one broker (connect URL) is reachable, for every
// producer, consumer and call of a client that talks to it. Failures
// because the broker cannot be reached are retried until the broker has
// been gone for the client's reconnect timeout; the tracker logs one line
// when the broker is lost, one when it is back and one when the client
// gives up, and each attempt at Debug only.
type outage struct {
	broker string
	log    *slog.Logger
	limit  time.Duration // the reconnect timeout

	active atomic.Bool // an outage is in progress (fast path of reached)

	mu       sync.Mutex
	since    time.Time // start of the current outage
	attempts int       // failed attempts in the current outage
	gaveUp   bool      // the "giving up" line was logged for this outage
	last     error     // the failure that made the client give up
}

// outageFor returns the tracker of the broker at key, creating it.
func (c *Client) outageFor(key string) *outage {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.outages[key]
	if o == nil {
		o = &outage{broker: key, log: c.log.With("broker", key), limit: c.cfg.reconnectTimeout}
		c.outages[key] = o
	}
	return o
}

// reached records that an RPC to the broker succeeded, ending an outage.
func (o *outage) reached() {
	if !o.active.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.active.Load() {
		return
	}
	o.active.Store(false)
	o.log.Info("broker reachable again", "down_for", time.Since(o.since).Round(time.Millisecond), "attempts", o.attempts)
	o.attempts, o.gaveUp = 0, false
}

// failed records an attempt that could not reach the broker (err, made by
// op; tries is how many attempts of op failed so, this one included). It
// returns how long to wait before the next attempt, or giveUp when the
// broker has been gone for the reconnect timeout (err then says so). After
// the client gave up, a new operation still gets the RetryPolicy's retries,
// so it finds a broker that just came back.
func (o *outage) failed(op string, err error, rp RetryPolicy, tries int) (wait time.Duration, giveUp error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	if !o.active.Load() {
		o.active.Store(true)
		o.since, o.attempts, o.gaveUp = now, 0, false
		o.log.Warn("broker unreachable; reconnecting", "retry_for", o.limit, "error", err)
	}
	o.attempts++
	down := now.Sub(o.since)
	if down >= o.limit && !(o.gaveUp && tries <= rp.Retries()) {
		o.last = err
		if !o.gaveUp {
			o.gaveUp = true
			o.log.Error("broker unreachable for too long; giving up", "down_for", down.Round(time.Millisecond), "reconnect_timeout", o.limit, "error", err)
		}
		return 0, &outageError{op: op, broker: o.broker, down: down, err: err}
	}
	wait = min(rp.Delay(o.attempts), outageProbe, max(o.limit-down, rp.Delay(tries)))
	o.log.Debug("broker unreachable; retrying", "op", op, "attempt", o.attempts, "wait", wait, "error", err)
	return wait, nil
}

// observed records a failed probe (a health check) that could not reach
// the broker: it starts an outage if none is in progress, but never gives
// up, which is for the operations waiting on the broker.
func (o *outage) observed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.active.Load() {
		o.active.Store(true)
		o.since, o.attempts, o.gaveUp = time.Now(), 0, false
		o.log.Warn("broker unreachable; reconnecting", "retry_for", o.limit, "error", err)
		return
	}
	o.log.Debug("broker unreachable; health check failed", "error", err)
}

// down returns an error if the broker is in an outage the client gave up
// on, nil otherwise.
func (o *outage) down(op string) error {
	if !o.active.Load() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.gaveUp {
		return nil
	}
	return &outageError{op: op, broker: o.broker, down: time.Since(o.since), err: o.last}
}

// outageError is returned once a broker has been unreachable for the
// reconnect timeout. It matches ErrUnavailable and is retryable: a later
// attempt may find the broker back.
type outageError struct {
	op     string
	broker string
	down   time.Duration
	err    error
}

func (e *outageError) Error() string {
	return fmt.Sprintf("danube: %s: broker %s unreachable for %s, giving up: %v", e.op, e.broker, e.down.Round(time.Millisecond), e.err)
}

func (e *outageError) Unwrap() error { return e.err }

// unreachable reports whether err, a retryable failure of an RPC to the
// broker at key, means the broker could not be reached (no connection, a
// connection that broke) rather than a broker answering UNAVAILABLE.
// Unreachable brokers are waited for up to the reconnect timeout; a broker
// that answers UNAVAILABLE is retried with the RetryPolicy only.
func (c *Client) unreachable(key string, err error) bool {
	var e *Error
	if c.cfg.reconnectTimeout <= 0 || !errors.As(err, &e) || e.permanent || e.Code != codes.Unavailable {
		return false
	}
	if transportFailure(e.Message) {
		return true
	}
	c.mu.Lock()
	cc := c.conns[key]
	c.mu.Unlock()
	return cc != nil && cc.GetState() != connectivity.Ready
}

// transportFailure reports whether an UNAVAILABLE message is one gRPC
// makes on the client side for a connection that failed or broke.
func transportFailure(msg string) bool {
	for _, s := range []string{
		"connection error", "error reading from server", "transport is closing",
		"connection is draining", "closing transport", "connection closed",
		"server preface", "connection refused", "connection reset",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// retryCall runs fn, an RPC to the broker at key, until it succeeds, fails
// for good, or ctx ends: an unreachable broker is waited for up to the
// reconnect timeout, other retryable failures are retried with the
// RetryPolicy. If ctx ends during a wait the error wraps both the context's
// error and the last failure.
func (c *Client) retryCall(ctx context.Context, key, op string, fn func() error) error {
	p := c.cfg.retry
	o := c.outageFor(key)
	for n, tries := 0, 0; ; {
		err := fn()
		if err == nil {
			o.reached()
			return nil
		}
		if !IsRetryable(err) {
			return err
		}
		var wait time.Duration
		if c.unreachable(key, err) {
			tries++
			w, giveUp := o.failed(op, err, p, tries)
			if giveUp != nil {
				return giveUp
			}
			wait = w
		} else {
			if n >= p.Retries() {
				return err
			}
			wait = p.Delay(n + 1)
			n++
		}
		if !sleepCtx(ctx, wait) {
			return &ctxError{op: op, err: context.Cause(ctx), last: err}
		}
	}
}

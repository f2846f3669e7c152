package webhook

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterTable holds one rate limiter per client, at most max of them: when
// full, the least recently seen client is forgotten.
type limiterTable struct {
	limit rate.Limit
	burst int
	max   int

	mu      sync.Mutex
	clients map[string]*clientLimiter
}

type clientLimiter struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiterTable(perSecond float64, burst, max int) *limiterTable {
	return &limiterTable{limit: rate.Limit(perSecond), burst: burst, max: max, clients: map[string]*clientLimiter{}}
}

// reserve takes one token for client and returns how long it must wait
// (0: allowed now).
func (t *limiterTable) reserve(client string, now time.Time) time.Duration {
	t.mu.Lock()
	c := t.clients[client]
	if c == nil {
		if len(t.clients) >= t.max {
			t.evictLocked()
		}
		c = &clientLimiter{lim: rate.NewLimiter(t.limit, t.burst)}
		t.clients[client] = c
	}
	c.seen = now
	t.mu.Unlock()
	return reserve(c.lim, now)
}

// evictLocked forgets the least recently seen client.
func (t *limiterTable) evictLocked() {
	var oldest string
	var at time.Time
	for k, c := range t.clients {
		if oldest == "" || c.seen.Before(at) {
			oldest, at = k, c.seen
		}
	}
	delete(t.clients, oldest)
}

// size returns the number of clients tracked.
func (t *limiterTable) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.clients)
}

// reserve takes one token of lim, or none when it would have to wait, and
// returns the wait (0: allowed).
func reserve(lim *rate.Limiter, now time.Time) time.Duration {
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// retryAfter renders a wait as whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	return itoa(max(s, 1))
}

// clientResolver finds the client address of a request.
type clientResolver struct {
	trusted []netip.Prefix
	header  string
}

func (c clientResolver) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client returns the socket peer's address, or, when the peer is a
// trusted proxy, the rightmost untrusted address of the forwarded header.
func (c clientResolver) client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(c.trusted) == 0 || !c.isTrusted(peer.Unmap()) {
		return host
	}
	hops := r.Header.Values(c.header)
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return host // a malformed hop: do not guess further left
			}
			if !c.isTrusted(a.Unmap()) {
				return a.Unmap().String()
			}
		}
	}
	return host
}

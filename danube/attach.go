package danube

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// attachment is the broker-side registration of one partition of a
// producer or a consumer: the route to the broker serving it, the id that
// broker gave it and the service client S on that broker's connection. The
// broker may drop a registration (a CLOSE health answer, a moved topic); it
// is then replaced through a fresh lookup, and the generation counts the
// replacements so that concurrent reports of one loss replace it once.
type attachment[S any] struct {
	reqID   atomic.Uint64
	renewMu sync.Mutex // serializes replacements; taken before mu
	mu      sync.RWMutex
	st      attachState[S]
}

// attachState is one generation of an attachment.
type attachState[S any] struct {
	route  route
	id     uint64 // broker-assigned producer_id or consumer_id
	gen    uint64 // incremented by every successful registration
	rpc    S
	health danubepb.HealthCheckClient
}

func (a *attachment[S]) nextID() uint64 { return a.reqID.Add(1) }

func (a *attachment[S]) state() attachState[S] {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.st
}

func (a *attachment[S]) healthState() (route, uint64, uint64, danubepb.HealthCheckClient) {
	st := a.state()
	return st.route, st.id, st.gen, st.health
}

// attach runs lookup + register (with c's retries) for topic starting from
// route from, and installs the registration as the next generation.
// register makes the broker call on conn and returns the broker's id and
// the service client it used; its errors are wrapped with op. installed,
// if not nil, runs under the lock right after the new state is in place.
func (a *attachment[S]) attach(ctx context.Context, c *Client, op, topic string, from route,
	register func(ctx context.Context, conn *grpc.ClientConn) (uint64, S, error), installed func()) (attachState[S], error) {
	var st attachState[S]
	r, err := c.establish(ctx, op, topic, from, a.nextID, func(ctx context.Context, _ route, conn *grpc.ClientConn) error {
		id, rpc, err := register(ctx, conn)
		if err != nil {
			return wrapErr(ctx, op, err)
		}
		st = attachState[S]{id: id, rpc: rpc, health: danubepb.NewHealthCheckClient(conn)}
		return nil
	})
	if err != nil {
		return attachState[S]{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st.route, st.gen = r, a.st.gen+1
	a.st = st
	if installed != nil {
		installed()
	}
	return st, nil
}

// replace calls reattach with the current route unless generation gen was
// already replaced.
func (a *attachment[S]) replace(gen uint64, reattach func(from route) error) error {
	a.renewMu.Lock()
	defer a.renewMu.Unlock()
	st := a.state()
	if st.gen != gen {
		return nil
	}
	return reattach(st.route)
}

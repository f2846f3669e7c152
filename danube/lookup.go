package danube

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// proxyHeader routes topic RPCs through an L7 proxy (protocol section 3.2).
const proxyHeader = "x-danube-broker-url"

// route is where a producer or consumer talks to its topic: the adopted
// answer of the last successful lookup.
type route struct {
	connect   brokerURL // dialled address
	brokerURL string    // owning broker's identity: proxy header, msg_id.broker_addr
	proxy     bool      // add proxyHeader on every topic RPC
}

// serviceRoute is the starting route: broker = connect = service URL.
func (c *Client) serviceRoute() route {
	return route{connect: c.service, brokerURL: c.service.key}
}

// topicCtx adds the proxy routing header when the route needs it.
func topicCtx(ctx context.Context, r route) context.Context {
	if !r.proxy {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, proxyHeader, r.brokerURL)
}

// lookup asks the broker at cur for the owner of topic and returns the
// adopted route. Lookup errors are ignored, as the official clients do: the
// current route is kept. When cur is not the service URL and the lookup
// there fails, the service URL is asked too, so a producer or consumer whose
// broker went away for good finds the new owner.
func (c *Client) lookup(ctx context.Context, topic string, cur route, nextID func() uint64) route {
	r, err := c.lookupAt(ctx, cur.connect, topic, nextID())
	if err == nil {
		return r
	}
	if cur.connect.key != c.service.key && ctx.Err() == nil {
		r, err2 := c.lookupAt(ctx, c.service, topic, nextID())
		if err2 == nil {
			return r
		}
	}
	c.log.Debug("topic lookup failed; keeping the current broker", "topic", topic, "broker", cur.connect.key, "error", err)
	return cur
}

func (c *Client) lookupAt(ctx context.Context, at brokerURL, topic string, reqID uint64) (route, error) {
	cc, err := c.conn(at)
	if err != nil {
		return route{}, err
	}
	resp, err := danubepb.NewDiscoveryClient(cc).TopicLookup(ctx, &danubepb.TopicLookupRequest{RequestId: reqID, Topic: topic})
	if err != nil {
		return route{}, wrapErr(ctx, fmt.Sprintf("lookup %q", topic), err)
	}
	switch resp.GetResponseType() {
	case danubepb.TopicLookupResponse_Connect, danubepb.TopicLookupResponse_Redirect:
	default:
		return route{}, fmt.Errorf("lookup %q: answer %v", topic, resp.GetResponseType())
	}
	connect, err := parseBrokerURL(resp.GetConnectUrl(), at.scheme())
	if err != nil {
		return route{}, fmt.Errorf("lookup %q: connect URL: %w", topic, err)
	}
	broker := resp.GetBrokerUrl()
	if broker == "" {
		broker = connect.key
	}
	return route{connect: connect, brokerURL: broker, proxy: resp.GetProxy()}, nil
}

// establish runs the creation flow of protocol section 3.2 for one topic:
// lookup against the current route, dial the adopted connect URL, call rpc;
// on a retryable error re-lookup, back off and retry: up to the retry policy
// for a broker answering with an error, up to the reconnect timeout for a
// broker that cannot be reached. It returns the route the rpc succeeded (or
// last failed) on. rpc receives a context that already carries the proxy
// header if needed and must return errors converted by wrapErr.
func (c *Client) establish(ctx context.Context, op, topic string, cur route, nextID func() uint64,
	rpc func(ctx context.Context, r route, cc *grpc.ClientConn) error) (route, error) {
	p := c.cfg.retry
	for n, tries := 0, 0; ; {
		r := c.lookup(ctx, topic, cur, nextID)
		cc, err := c.conn(r.connect)
		if err != nil {
			return r, err
		}
		o := c.outageFor(r.connect.key)
		err = rpc(topicCtx(ctx, r), r, cc)
		if err == nil {
			o.reached()
			return r, nil
		}
		cur = r
		if !IsRetryable(err) {
			return r, err
		}
		var wait time.Duration
		if c.unreachable(r.connect.key, err) {
			tries++
			w, giveUp := o.failed(op, err, p, tries)
			if giveUp != nil {
				return r, giveUp
			}
			wait = w
		} else {
			if n >= p.Retries() {
				return r, err
			}
			c.log.Warn("retrying", "op", op, "topic", topic, "broker", r.connect.key, "attempt", n+1, "error", err)
			wait = p.Delay(n + 1)
			n++
		}
		if !sleepCtx(ctx, wait) {
			return r, &ctxError{op: op, err: context.Cause(ctx), last: err}
		}
	}
}

// partitions returns the topics to consume for topic: TopicPartitions on
// the service URL, with retries. An empty answer yields [topic], so that
// Subscribe reports the real error for a missing topic.
func (c *Client) partitions(ctx context.Context, topic string, reqID uint64) ([]string, error) {
	var parts []string
	err := c.retryCall(ctx, c.service.key, fmt.Sprintf("partitions of %q", topic), func() error {
		cc, err := c.serviceConn()
		if err != nil {
			return err
		}
		resp, err := danubepb.NewDiscoveryClient(cc).TopicPartitions(ctx, &danubepb.TopicLookupRequest{RequestId: reqID, Topic: topic})
		if err != nil {
			return wrapErr(ctx, fmt.Sprintf("partitions of %q", topic), err)
		}
		parts = resp.GetPartitions()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		parts = []string{topic}
	}
	return parts, nil
}

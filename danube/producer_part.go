package danube

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// partProducer is the broker-side producer of one topic or partition.
type partProducer struct {
	attachment[danubepb.ProducerServiceClient]
	p     *Producer
	topic string
	name  string
}

// send delivers msg to the broker, retrying transient failures (an
// unreachable broker up to the reconnect timeout) and recreating the
// producer when the broker lost it. A send is repeated only when it was not
// confirmed.
func (pp *partProducer) send(ctx context.Context, msg *danubepb.StreamMessage) error {
	p := pp.p
	rp := p.c.cfg.retry
	op := "send to " + pp.topic
	for n, tries := 0, 0; ; {
		st := pp.state()
		o := p.c.outageFor(st.route.connect.key)
		msg.RequestId = pp.nextID()
		msg.MsgId.ProducerId = st.id
		msg.MsgId.BrokerAddr = st.route.brokerURL
		_, err := st.rpc.SendMessage(topicCtx(ctx, st.route), msg)
		if err == nil {
			o.reached()
			return nil
		}
		if p.ctx.Err() != nil {
			return errProducerClosed
		}
		err = wrapErr(ctx, op, err)
		if ctx.Err() != nil {
			return err
		}
		var wait time.Duration
		switch {
		case p.c.unreachable(st.route.connect.key, err):
			tries++
			w, giveUp := o.failed(op, err, rp, tries)
			if giveUp != nil {
				return giveUp
			}
			wait = w
		case n >= rp.Retries():
			return err
		case needsRecreate(err):
			n++
			p.log.Info("broker lost the producer; recreating", "partition", pp.topic, "error", err)
			rerr := pp.renew(ctx, st.gen, "send failed")
			if rerr == nil {
				continue
			}
			if p.ctx.Err() != nil {
				return errProducerClosed
			}
			if !IsRetryable(rerr) {
				return fmt.Errorf("%w; recreate: %w", err, rerr)
			}
			wait = rp.Delay(n)
		case IsRetryable(err):
			p.log.Warn("send failed; retrying", "partition", pp.topic, "attempt", n+1, "error", err)
			wait = rp.Delay(n + 1)
			n++
		default:
			return err
		}
		if !sleepCtx(ctx, wait) {
			if p.ctx.Err() != nil {
				return errProducerClosed
			}
			return &ctxError{op: op, err: context.Cause(ctx), last: err}
		}
	}
}

// create runs lookup + CreateProducer (with retries) starting from route
// from, and installs the new state.
func (pp *partProducer) create(ctx context.Context, from route) error {
	p := pp.p
	op := fmt.Sprintf("create producer %q on %q", pp.name, pp.topic)
	st, err := pp.attach(ctx, p.c, op, pp.topic, from, func(ctx context.Context, conn *grpc.ClientConn) (uint64, danubepb.ProducerServiceClient, error) {
		rpc := danubepb.NewProducerServiceClient(conn)
		resp, err := rpc.CreateProducer(ctx, &danubepb.ProducerRequest{
			RequestId:          pp.nextID(),
			ProducerName:       pp.name,
			TopicName:          pp.topic,
			SchemaRef:          p.schemaWire,
			ProducerAccessMode: danubepb.ProducerAccessMode_Shared,
			DispatchStrategy:   p.cfg.dispatch.wire(),
		})
		return resp.GetProducerId(), rpc, err
	}, nil)
	if err != nil {
		return err
	}
	p.log.Debug("producer attached", "partition", pp.topic, "broker", st.route.connect.key, "producer_id", st.id, "proxy", st.route.proxy)
	return nil
}

// renew recreates the producer unless generation gen was already replaced
// by a concurrent renew.
func (pp *partProducer) renew(ctx context.Context, gen uint64, reason string) error {
	return pp.replace(gen, func(from route) error {
		pp.p.log.Info("recreating producer", "partition", pp.topic, "reason", reason)
		return pp.create(ctx, from)
	})
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-connect/connect/danube"
)

// params describe one run of a cell.
type params struct {
	url     string // broker service URL
	records int    // records in total, spread evenly over the topics
	size    int    // payload bytes
	topics  int
	maxTime time.Duration // the run stops counting after this long
	prefix  string        // unique topic name prefix of the run
	dir     string        // scratch directory of the run
}

func (p params) topic(i int) string { return fmt.Sprintf("/default/%s-%d", p.prefix, i) }

// perTopic returns how many of the records go to topic i.
func (p params) perTopic(i int) int {
	n := p.records / p.topics
	if i < p.records%p.topics {
		n++
	}
	return n
}

// counter counts delivered records and remembers when the last one came.
type counter struct {
	n    atomic.Int64
	last atomic.Int64 // unix nanoseconds
	want int64
	done chan struct{}
	once sync.Once
}

func newCounter(want int) *counter { return &counter{want: int64(want), done: make(chan struct{})} }

func (c *counter) add(k int64) {
	n := c.n.Add(k)
	c.last.Store(time.Now().UnixNano())
	if n >= c.want {
		c.once.Do(func() { close(c.done) })
	}
}

// wait returns once every record was counted or ctx ended.
func (c *counter) wait(ctx context.Context) {
	select {
	case <-c.done:
	case <-ctx.Done():
	}
}

func (c *counter) lastAt() time.Time { return time.Unix(0, c.last.Load()) }

// runRawSend publishes with the client's producer, SendAsync pipelined up to
// inflightPerTopic per topic, counting broker confirmations. Each topic has
// its own client (and connection), as each source runtime of the source
// runs has.
func runRawSend(ctx context.Context, p params) (Sample, error) {
	prods := make([]*danube.Producer, p.topics)
	for i := range prods {
		c, err := danube.NewClient(ctx, p.url)
		if err != nil {
			return Sample{}, err
		}
		defer c.Close()
		if prods[i], err = c.NewProducer(ctx, p.topic(i), danube.WithReliable(), danube.WithMaxInFlight(inflightPerTopic)); err != nil {
			return Sample{}, err
		}
		defer prods[i].Close()
	}
	payload := make([]byte, p.size)
	cnt := newCounter(p.records)
	ctx, cancel := context.WithTimeout(ctx, p.maxTime)
	defer cancel()
	var m meter
	m.begin(p.records)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i, prod := range prods {
		wg.Go(func() {
			msg := &danube.OutgoingMessage{Payload: payload}
			for range p.perTopic(i) {
				start := time.Now()
				err := prod.SendAsync(ctx, msg, func(err error) {
					if err == nil {
						m.lat.add(time.Since(start))
						cnt.add(1)
					} else if !timedOut(ctx, err) {
						failed.Store(err)
					}
				})
				if err != nil {
					return
				}
			}
			_ = prod.Flush(ctx)
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return Sample{}, fmt.Errorf("raw send: %w", err)
	}
	return m.end(cnt.n.Load(), p.size, cnt.lastAt()), nil
}

// publishBacklog publishes n records of size bytes to topic before a
// consumption run, as fast as the client goes.
func publishBacklog(ctx context.Context, c *danube.Client, topic string, n, size int) error {
	prod, err := c.NewProducer(ctx, topic, danube.WithReliable(), danube.WithMaxInFlight(inflightPerTopic))
	if err != nil {
		return err
	}
	defer prod.Close()
	msg := &danube.OutgoingMessage{Payload: make([]byte, size)}
	var failed atomic.Value
	for range n {
		if err := prod.SendAsync(ctx, msg, func(err error) {
			if err != nil {
				failed.Store(err)
			}
		}); err != nil {
			return err
		}
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	if err, ok := failed.Load().(error); ok {
		return fmt.Errorf("publish backlog: %w", err)
	}
	return nil
}

// subscribe creates the subscription sub on each topic (creating the
// topics first), so that a backlog published afterwards is kept for it.
func subscribe(ctx context.Context, c *danube.Client, p params, sub string, keep bool) ([]*danube.Consumer, error) {
	var out []*danube.Consumer
	for i := range p.topics {
		prod, err := c.NewProducer(ctx, p.topic(i), danube.WithReliable())
		if err != nil {
			return nil, err
		}
		prod.Close()
		cons, err := c.NewConsumer(ctx, p.topic(i), sub, danube.WithConsumerName(sub))
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, cons)
		} else {
			cons.Close()
		}
	}
	return out, nil
}

// fillBacklogs publishes the run's records to its topics.
func fillBacklogs(ctx context.Context, c *danube.Client, p params) error {
	var wg sync.WaitGroup
	errs := make([]error, p.topics)
	for i := range p.topics {
		wg.Go(func() { errs[i] = publishBacklog(ctx, c, p.topic(i), p.perTopic(i), p.size) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// maxAcksPerTopic bounds the raw consumer's acks in flight per topic.
const maxAcksPerTopic = 64

// runRawReceive consumes a backlog with the client's consumer: Receive,
// then Ack pipelined (up to maxAcksPerTopic in flight), counting acks.
func runRawReceive(ctx context.Context, p params) (Sample, error) {
	c, err := danube.NewClient(ctx, p.url)
	if err != nil {
		return Sample{}, err
	}
	defer c.Close()
	conss, err := subscribe(ctx, c, p, "raw", true)
	if err != nil {
		return Sample{}, err
	}
	defer func() {
		for _, cons := range conss {
			cons.Close()
		}
	}()
	if err := fillBacklogs(ctx, c, p); err != nil {
		return Sample{}, err
	}
	cnt := newCounter(p.records)
	ctx, cancel := context.WithTimeout(ctx, p.maxTime)
	defer cancel()
	var m meter
	m.begin(p.records)
	var wg sync.WaitGroup
	for i, cons := range conss {
		wg.Go(func() {
			sem := make(chan struct{}, maxAcksPerTopic)
			var acks sync.WaitGroup
			defer acks.Wait()
			for range p.perTopic(i) {
				msg, err := cons.Receive(ctx)
				if err != nil {
					return
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				acks.Go(func() {
					defer func() { <-sem }()
					if cons.Ack(ctx, msg) == nil {
						cnt.add(1)
					}
				})
			}
		})
	}
	cnt.wait(ctx)
	cancel()
	wg.Wait()
	return m.end(min(cnt.n.Load(), int64(p.records)), p.size, cnt.lastAt()), nil
}

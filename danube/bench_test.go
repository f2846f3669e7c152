package danube_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// Benchmarks run the client against an in-process devbroker over loopback
// gRPC. They report msg/s next to ns/op and allocs/op (client and broker
// allocations both count, since they share the process).

var benchSizes = []int{100, 1024}

func BenchmarkSend(b *testing.B) {
	br := startBroker(b, devbroker.Config{})
	c := newClient(b, br.URL())
	for _, size := range benchSizes {
		payload := make([]byte, size)
		b.Run(fmt.Sprintf("sync/%dB", size), func(b *testing.B) {
			p := newProducer(b, c, uniqueTopic(b), danube.WithReliable())
			ctx := context.Background()
			msg := &danube.OutgoingMessage{Payload: payload}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := p.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
		b.Run(fmt.Sprintf("async64/%dB", size), func(b *testing.B) {
			p := newProducer(b, c, uniqueTopic(b), danube.WithReliable(), danube.WithMaxInFlight(64))
			ctx := context.Background()
			msg := &danube.OutgoingMessage{Payload: payload}
			var (
				once     sync.Once
				firstErr error
			)
			done := func(err error) {
				if err != nil {
					once.Do(func() { firstErr = err })
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := p.SendAsync(ctx, msg, done); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
			if firstErr != nil {
				b.Fatal(firstErr)
			}
		})
	}
}

func BenchmarkReceiveAck(b *testing.B) {
	br := startBroker(b, devbroker.Config{MaxUnackedMessages: 1000})
	c := newClient(b, br.URL())
	for _, size := range benchSizes {
		payload := make([]byte, size)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			topic := uniqueTopic(b)
			p := newProducer(b, c, topic, danube.WithReliable(), danube.WithMaxInFlight(64))
			cons := newConsumer(b, c, topic, "bench", danube.WithReceiveBuffer(256))

			// A background producer keeps the subscription ahead of the
			// consumer; it stops when the benchmark is done.
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				msg := &danube.OutgoingMessage{Payload: payload}
				for ctx.Err() == nil {
					if err := p.SendAsync(ctx, msg, func(error) {}); err != nil {
						return
					}
				}
			})
			defer func() {
				cancel()
				wg.Wait()
			}()

			rctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				m, err := cons.Receive(rctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := cons.Ack(rctx, m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

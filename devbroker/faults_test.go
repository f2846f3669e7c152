package devbroker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/devbroker/internal/auth"
	"github.com/danube-connect/connect/internal/testpki"
	pb "github.com/danube-connect/connect/internal/wire/danubepb"
)

func TestFailNextAndLatency(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	b.FailNext("/danube.ProducerService/SendMessage", 2, codes.Unavailable)
	wantCode(t, p.sendErr(t.Context(), "a"), codes.Unavailable)
	wantCode(t, p.sendErr(t.Context(), "a"), codes.Unavailable)
	p.send(t, "a")
	if n := len(b.Messages("/default/t")); n != 1 {
		t.Fatalf("failed sends were published: %d messages", n)
	}
	b.FailNext("/danube.ConsumerService/Subscribe", 1, codes.ResourceExhausted)
	_, err := c.cons.Subscribe(t.Context(), &pb.ConsumerRequest{TopicName: "/default/t", ConsumerName: "c", Subscription: "s"})
	wantCode(t, err, codes.ResourceExhausted)
	b.FailNext("/danube.ConsumerService/ReceiveMessages", 1, codes.Unavailable)
	resp, err := c.cons.Subscribe(t.Context(), &pb.ConsumerRequest{TopicName: "/default/t", ConsumerName: "c", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.cons.ReceiveMessages(t.Context(), &pb.ReceiveRequest{ConsumerId: resp.ConsumerId})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unavailable)

	b.SetLatency("/danube.ProducerService/SendMessage", time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	wantCode(t, p.sendErr(ctx, "slow"), codes.DeadlineExceeded)
	b.SetLatency("/danube.ProducerService/SendMessage", 0)
	p.send(t, "fast")
}

func TestCloseProducerAndConsumer(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
	p.send(t, "a")
	cons.expect(t, "a") // in flight

	if !b.CloseProducer("/default/t", "p") || b.CloseProducer("/default/t", "p") {
		t.Fatal("CloseProducer result")
	}
	wantCode(t, p.sendErr(t.Context(), "b"), codes.NotFound)
	h, _ := c.health.HealthCheck(t.Context(), &pb.HealthCheckRequest{Client: pb.HealthCheckRequest_Producer, Id: p.id})
	if h.Status != pb.HealthCheckResponse_CLOSE {
		t.Fatal("closed producer healthy")
	}
	p2 := c.producer(t, "/default/t", "p", true)
	if p2.id == p.id {
		t.Fatal("recreated producer kept its id")
	}

	if !b.CloseConsumer("/default/t", "s", "c") || b.CloseConsumer("/default/t", "s", "nobody") {
		t.Fatal("CloseConsumer result")
	}
	if err := <-cons.ended; err != nil {
		t.Fatalf("closed consumer's stream ended with %v, want OK", err)
	}
	h, _ = c.health.HealthCheck(t.Context(), &pb.HealthCheckRequest{Client: pb.HealthCheckRequest_Consumer, Id: cons.id})
	if h.Status != pb.HealthCheckResponse_CLOSE {
		t.Fatal("closed consumer healthy")
	}
	stream, err := c.cons.ReceiveMessages(t.Context(), &pb.ReceiveRequest{ConsumerId: cons.id})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.NotFound)
	// Re-subscribing restores it; the unacked message comes back.
	p2.send(t, "b")
	again := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
	if again.id != cons.id {
		t.Fatal("new id after CloseConsumer")
	}
	again.expect(t, "a", "b")
}

func TestUnloadTopicAndEndStreams(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
	if n := b.EndStreams("/default/t"); n != 1 {
		t.Fatalf("EndStreams = %d", n)
	}
	if err := <-cons.ended; err != nil {
		t.Fatalf("ended stream: %v", err)
	}
	cons.open(t) // the consumer stays usable
	p.send(t, "a")
	cons.expect(t, "a")

	b.UnloadTopic("/default/t")
	wantCode(t, p.sendErr(t.Context(), "b"), codes.NotFound)
	if err := <-cons.ended; err != nil {
		t.Fatalf("unloaded stream: %v", err)
	}
	p = c.producer(t, "/default/t", "p", true)
	again := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
	p.send(t, "b")
	again.expect(t, "a", "b")
}

func TestRedirectAndHeaders(t *testing.T) {
	b := start(t, devbroker.Config{})
	second, err := b.AddListener(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if second == b.URL() || !strings.HasPrefix(second, "http://127.0.0.1:") {
		t.Fatalf("second listener %s", second)
	}
	b.RouteTopic("/default/t", devbroker.Route{ConnectURL: second, BrokerURL: "http://owner:6650", Proxy: true})
	c := dial(t, b.URL())
	resp, err := c.disc.TopicLookup(t.Context(), &pb.TopicLookupRequest{Topic: "/default/t"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseType != pb.TopicLookupResponse_Redirect || resp.ConnectUrl != second || resp.BrokerUrl != "http://owner:6650" || !resp.Proxy {
		t.Fatalf("lookup %v", resp)
	}
	// The second address serves the same state.
	c2 := dial(t, second)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-danube-broker-url", "http://owner:6650")
	if _, err := c2.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: "/default/t", ProducerName: "p"}); err != nil {
		t.Fatal(err)
	}
	if got := b.Topics(); len(got) != 1 {
		t.Fatalf("topics %v", got)
	}
	hs := b.Headers("/danube.ProducerService/CreateProducer")
	if len(hs) != 1 || hs[0].Get("x-danube-broker-url")[0] != "http://owner:6650" {
		t.Fatalf("headers %v", hs)
	}
	if hs := b.Headers("/danube.Discovery/TopicLookup"); len(hs) != 0 {
		t.Fatalf("lookup headers %v", hs)
	}
	b.RouteTopic("/default/t", devbroker.Route{})
	resp, _ = c.disc.TopicLookup(t.Context(), &pb.TopicLookupRequest{Topic: "/default/t"})
	if resp.ResponseType != pb.TopicLookupResponse_Connect {
		t.Fatalf("after unrouting: %v", resp)
	}
}

func TestTLSAndJWT(t *testing.T) {
	secret := []byte("secret")
	ca := testpki.NewCA(t, t.TempDir(), "devbroker")
	cert := ca.Certificate(t, testpki.Leaf{Name: "server", Usage: x509.ExtKeyUsageServerAuth, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	b := start(t, devbroker.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, JWTSecret: secret})
	if !strings.HasPrefix(b.URL(), "https://") {
		t.Fatalf("URL %s", b.URL())
	}
	conn, err := grpc.NewClient(b.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	disc := pb.NewDiscoveryClient(conn)
	_, err = disc.TopicPartitions(t.Context(), &pb.TopicLookupRequest{Topic: "/default/t"})
	wantCode(t, err, codes.Unauthenticated)
	tok, err := auth.MintToken(secret, "tester", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
	if _, err := disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: "/default/t"}); err != nil {
		t.Fatalf("with token: %v", err)
	}
	if hs := b.Headers("/danube.Discovery/TopicPartitions"); len(hs) != 1 || hs[0].Get("authorization")[0] != "Bearer "+tok {
		t.Fatalf("headers %v", hs)
	}
}

package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

var secret = []byte("test-secret-key")

// echo answers with the authenticated principal: Subscribe in ConsumerName, ReceiveMessages in
// the ProducerName of its one message.
type echo struct {
	danubepb.UnimplementedConsumerServiceServer
	danubepb.UnimplementedHealthCheckServer
}

func principalText(ctx context.Context) string {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return "<none>"
	}
	return p.Type + "/" + p.Name
}

func (echo) Subscribe(ctx context.Context, _ *danubepb.ConsumerRequest) (*danubepb.ConsumerResponse, error) {
	return &danubepb.ConsumerResponse{ConsumerName: principalText(ctx)}, nil
}

func (echo) ReceiveMessages(_ *danubepb.ReceiveRequest, s grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
	return s.Send(&danubepb.StreamMessage{ProducerName: principalText(s.Context())})
}

func (echo) HealthCheck(context.Context, *danubepb.HealthCheckRequest) (*danubepb.HealthCheckResponse, error) {
	return &danubepb.HealthCheckResponse{}, nil
}

type server struct {
	addr     string
	consumer danubepb.ConsumerServiceClient
}

func startServer(t *testing.T) server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unary, stream := Interceptors(secret)
	srv := grpc.NewServer(grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream))
	danubepb.RegisterConsumerServiceServer(srv, echo{})
	danubepb.RegisterHealthCheckServer(srv, echo{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	})
	return server{addr: lis.Addr().String(), consumer: danubepb.NewConsumerServiceClient(conn)}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fullClaims(exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "anyone", "exp": exp.Unix(), "sub": "svc", "principal_type": "user", "principal_name": "alice",
	}
}

func without(c jwt.MapClaims, name string) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		if k != name {
			out[k] = v
		}
	}
	return out
}

// call runs one unary and one streaming RPC with the given authorization header ("" = none) and
// returns the principal each saw, or their errors.
func call(t *testing.T, s server, header string) (unaryP string, unaryErr error, streamP string, streamErr error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if header != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", header)
	}
	resp, err := s.consumer.Subscribe(ctx, &danubepb.ConsumerRequest{})
	if err == nil {
		unaryP = resp.ConsumerName
	}
	unaryErr = err
	st, err := s.consumer.ReceiveMessages(ctx, &danubepb.ReceiveRequest{})
	if err == nil {
		var m *danubepb.StreamMessage
		if m, err = st.Recv(); err == nil {
			streamP = m.ProducerName
		}
	}
	return unaryP, unaryErr, streamP, err
}

func TestInterceptors(t *testing.T) {
	s := startServer(t)
	now := time.Now()
	good := sign(t, jwt.SigningMethodHS256, secret, fullClaims(now.Add(time.Hour)))
	minted, err := MintToken(secret, "connector-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	odd := fullClaims(now.Add(time.Hour))
	odd["principal_type"] = "robot"

	accept := []struct {
		name, header, principal string
	}{
		{"bearer", "Bearer " + good, "user/alice"},
		{"lowercase bearer", "bearer " + good, "user/alice"},
		{"minted", "Bearer " + minted, "service_account/connector-1"},
		{"expired within leeway", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, fullClaims(now.Add(-30*time.Second))), "user/alice"},
		{"unknown principal type", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, odd), "service_account/alice"},
		{"extra claims", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, func() jwt.MapClaims {
			c := fullClaims(now.Add(time.Hour))
			c["nbf"] = now.Add(time.Hour).Unix() // nbf is not checked
			c["role"] = "x"
			return c
		}()), "user/alice"},
	}
	for _, tc := range accept {
		t.Run("accept/"+tc.name, func(t *testing.T) {
			up, uerr, sp, serr := call(t, s, tc.header)
			if uerr != nil || serr != nil {
				t.Fatalf("unary err %v, stream err %v", uerr, serr)
			}
			if up != tc.principal || sp != tc.principal {
				t.Fatalf("principal unary %q stream %q, want %q", up, sp, tc.principal)
			}
		})
	}

	rejectCases := []struct {
		name, header, msg string
	}{
		{"missing", "", "Authentication credentials are missing"},
		{"no prefix", good, "Invalid token: the authorization header must be \"Bearer <token>\""},
		{"basic prefix", "Basic " + good, "Invalid token: the authorization header must be \"Bearer <token>\""},
		{"garbage", "Bearer not.a.jwt", "Invalid token: not a JWT (want header.claims.signature)"},
		{"other secret", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("other"), fullClaims(now.Add(time.Hour))), "Invalid token: signature does not verify with the broker's secret"},
		{"HS512", "Bearer " + sign(t, jwt.SigningMethodHS512, secret, fullClaims(now.Add(time.Hour))), "Invalid token: algorithm is not HS256"},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, fullClaims(now.Add(time.Hour))), "Invalid token: algorithm is not HS256"},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, fullClaims(now.Add(-2*time.Minute))), "Invalid token: token expired at"},
		{"minted expired", "Bearer " + func() string {
			tok, err := MintToken(secret, "x", -time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}(), "Invalid token: token expired at"},
		{"exp not a number", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, func() jwt.MapClaims {
			c := fullClaims(now)
			c["exp"] = "tomorrow"
			return c
		}()), "Invalid token: claim exp missing or not an unsigned integer"},
	}
	for _, claim := range []string{"iss", "exp", "sub", "principal_type", "principal_name"} {
		rejectCases = append(rejectCases, struct{ name, header, msg string }{
			"missing " + claim, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, without(fullClaims(now.Add(time.Hour)), claim)), "Invalid token: claim " + claim + " missing or not",
		})
	}
	for _, tc := range rejectCases {
		t.Run("reject/"+tc.name, func(t *testing.T) {
			_, uerr, _, serr := call(t, s, tc.header)
			for kind, err := range map[string]error{"unary": uerr, "stream": serr} {
				st, _ := status.FromError(err)
				if st.Code() != codes.Unauthenticated || !strings.HasPrefix(st.Message(), tc.msg) {
					t.Errorf("%s: got %v %q, want UNAUTHENTICATED %q", kind, st.Code(), st.Message(), tc.msg)
				}
			}
		})
	}
}

// TestNonASCIIHeader sends a raw gRPC request over HTTP/2, because gRPC clients refuse to send
// non-ASCII metadata values.
func TestNonASCIIHeader(t *testing.T) {
	s := startServer(t)
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	msg, err := proto.Marshal(&danubepb.HealthCheckRequest{RequestId: 1})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	frame = append(frame, msg...)

	for _, tc := range []struct {
		header, msg string
	}{
		{"Bearer caf\xc3\xa9", "Authentication metadata is invalid"},
		{"Bearer cafe", "Invalid token"}, // control: the raw path reaches the interceptor
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.addr+"/danube.HealthCheck/HealthCheck", bytes.NewReader(frame))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("content-type", "application/grpc")
		req.Header.Set("te", "trailers")
		req.Header["Authorization"] = []string{tc.header}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		cancel()
		code, message := resp.Header.Get("grpc-status"), resp.Header.Get("grpc-message")
		if code == "" {
			code, message = resp.Trailer.Get("grpc-status"), resp.Trailer.Get("grpc-message")
		}
		if code != "16" || !strings.HasPrefix(message, tc.msg) {
			t.Errorf("header %q: grpc-status %q message %q, want 16 %q", tc.header, code, message, tc.msg)
		}
	}
}

func TestCacheHonoursExpiry(t *testing.T) {
	a := &authenticator{secret: secret, cache: map[string]cached{}}
	start := time.Now()
	a.now = func() time.Time { return start }
	tok := sign(t, jwt.SigningMethodHS256, secret, fullClaims(start.Add(time.Second)))
	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+tok))
	if _, err := a.authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	// Cached, still valid within leeway.
	a.now = func() time.Time { return start.Add(50 * time.Second) }
	if _, err := a.authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	// Past expiry plus leeway: the cached entry must not keep the token alive.
	a.now = func() time.Time { return start.Add(62 * time.Second) }
	if _, err := a.authenticate(ctx); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("expired cached token accepted: %v", err)
	}
}

func TestPrincipalFromEmpty(t *testing.T) {
	if _, ok := PrincipalFrom(t.Context()); ok {
		t.Fatal("principal in a plain context")
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	a := &authenticator{secret: secret, now: time.Now, cache: map[string]cached{}}
	tok, err := MintToken(secret, "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(b.Context(), metadata.Pairs("authorization", "Bearer "+tok))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.authenticate(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	tok, err := MintToken(secret, "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := verify(secret, tok, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

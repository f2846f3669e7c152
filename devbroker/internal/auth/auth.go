// Package auth checks `authorization: Bearer <JWT>` credentials the way a Danube broker in tls auth
// mode does: HS256 tokens with the claims iss, exp, sub, principal_type and principal_name.
//
// Every RPC must carry the header (the prefix may also be spelled "bearer "). A token is accepted
// when its algorithm is HS256, its signature verifies with the shared secret, all five claims are
// present, and exp (Unix seconds) is no more than 60 s in the past. The issuer and nbf are not
// checked, like on the real broker. The outcomes are the broker's:
//
//   - no authorization header: UNAUTHENTICATED "Authentication credentials are missing";
//   - a header value that is not ASCII: UNAUTHENTICATED "Authentication metadata is invalid";
//   - a bad prefix, signature, algorithm or claim set, or an expired token: UNAUTHENTICATED
//     "Invalid token: <which check failed>" (the broker says only "Invalid token"; the reason
//     names the missing claim, the failed signature, the algorithm or the expiry).
//
// Differences from the real broker: the x-danube-internal-broker header, which the broker maps to
// an all-powerful internal principal without checking anything, is ignored; RBAC is not enforced,
// so every authenticated principal may call every RPC; and validated tokens are cached for at most
// 30 s but never past their expiry plus leeway (the broker keeps serving an expired token from its
// cache for up to 30 s).
package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Principal types carried in the principal_type claim.
const (
	PrincipalServiceAccount = "service_account"
	PrincipalUser           = "user"
	PrincipalBrokerInternal = "broker_internal"
)

// Issuer is the iss claim MintToken writes, the default of danube-admin.
const Issuer = "danube-auth"

// RequiredClaims lists the claims every token must carry.
const RequiredClaims = "iss, sub, exp, principal_type, principal_name"

// Leeway is the tolerance applied to the exp claim.
const Leeway = 60 * time.Second

// cacheTTL bounds how long a validated token is remembered.
const cacheTTL = 30 * time.Second

// cacheSize bounds the number of remembered tokens; the cache is emptied when it is full.
const cacheSize = 1024

// Status messages of the broker's authentication interceptor.
const (
	msgMissing = "Authentication credentials are missing"
	msgInvalid = "Authentication metadata is invalid"
	msgToken   = "Invalid token"
)

// Principal is the authenticated caller of an RPC.
type Principal struct {
	Type string // service_account, user or broker_internal; unknown values map to service_account
	Name string // principal_name claim
}

type principalKey struct{}

// PrincipalFrom returns the principal authenticated for the RPC whose context is ctx, and false
// when the call was not authenticated (for example because auth is disabled).
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Interceptors returns the unary and stream server interceptors that authenticate every call with
// HS256 JWTs signed with secret. Calls without valid credentials fail with UNAUTHENTICATED; valid
// calls run with the principal in their context (see PrincipalFrom). The interceptors are safe for
// concurrent use and start no goroutines.
func Interceptors(secret []byte) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	a := &authenticator{secret: secret, now: time.Now, cache: map[string]cached{}}
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		p, err := a.authenticate(ctx)
		if err != nil {
			return nil, err
		}
		return handler(context.WithValue(ctx, principalKey{}, p), req)
	}
	stream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		p, err := a.authenticate(ss.Context())
		if err != nil {
			return err
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), principalKey{}, p)})
	}
	return unary, stream
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

type cached struct {
	p     Principal
	until time.Time
}

type authenticator struct {
	secret []byte
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached // raw header value → validated principal
}

func (a *authenticator) authenticate(ctx context.Context) (Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return Principal{}, status.Error(codes.Unauthenticated, msgMissing)
	}
	header := vals[0]
	for i := 0; i < len(header); i++ {
		if header[i] >= 0x80 {
			return Principal{}, status.Error(codes.Unauthenticated, msgInvalid)
		}
	}
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[header]
	a.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.p, nil
	}
	var token string
	switch {
	case strings.HasPrefix(header, "Bearer "):
		token = header[len("Bearer "):]
	case strings.HasPrefix(header, "bearer "):
		token = header[len("bearer "):]
	default:
		return Principal{}, status.Error(codes.Unauthenticated, msgToken+": the authorization header must be \"Bearer <token>\"")
	}
	p, exp, err := verify(a.secret, token, now)
	if err != nil {
		return Principal{}, status.Error(codes.Unauthenticated, msgToken+": "+err.Error())
	}
	until := now.Add(cacheTTL)
	if end := exp.Add(Leeway); end.Before(until) {
		until = end
	}
	a.mu.Lock()
	if len(a.cache) >= cacheSize {
		clear(a.cache)
	}
	a.cache[header] = cached{p: p, until: until}
	a.mu.Unlock()
	return p, nil
}

// verify checks token and returns its principal and expiry.
func verify(secret []byte, token string, now time.Time) (Principal, time.Time, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithoutClaimsValidation()) // exp is checked below, nbf and iss deliberately not at all
	switch {
	case err != nil && strings.Contains(err.Error(), "signing method"):
		return Principal{}, time.Time{}, errors.New("algorithm is not HS256")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Principal{}, time.Time{}, errors.New("signature does not verify with the broker's secret")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Principal{}, time.Time{}, errors.New("not a JWT (want header.claims.signature)")
	case err != nil:
		return Principal{}, time.Time{}, err
	}
	strs := make(map[string]string, 4)
	for _, name := range []string{"iss", "sub", "principal_type", "principal_name"} {
		s, ok := claims[name].(string)
		if !ok {
			return Principal{}, time.Time{}, fmt.Errorf("claim %s missing or not a string (required: %s)", name, RequiredClaims)
		}
		strs[name] = s
	}
	expF, ok := claims["exp"].(float64)
	if !ok || expF < 0 || expF != math.Trunc(expF) || expF > math.MaxInt64/2 {
		return Principal{}, time.Time{}, fmt.Errorf("claim exp missing or not an unsigned integer (required: %s)", RequiredClaims)
	}
	exp := time.Unix(int64(expF), 0)
	if now.After(exp.Add(Leeway)) {
		return Principal{}, time.Time{}, fmt.Errorf("token expired at %s (exp, with %s leeway)", exp.UTC().Format(time.RFC3339), Leeway)
	}
	p := Principal{Type: strs["principal_type"], Name: strs["principal_name"]}
	switch p.Type {
	case PrincipalServiceAccount, PrincipalUser, PrincipalBrokerInternal:
	default:
		p.Type = PrincipalServiceAccount
	}
	return p, exp, nil
}

// MintToken returns an HS256 token for subject that expires after ttl, with principal_type
// service_account, principal_name equal to subject and issuer danube-auth, as
// `danube-admin security tokens create` makes them.
func MintToken(secret []byte, subject string, ttl time.Duration) (string, error) {
	claims := jwt.MapClaims{
		"iss":            Issuer,
		"exp":            time.Now().Add(ttl).Unix(),
		"sub":            subject,
		"principal_type": PrincipalServiceAccount,
		"principal_name": subject,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return s, nil
}

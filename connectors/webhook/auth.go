package webhook

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// authenticator checks a request with its raw body; the error says what
// was wrong (it is sent to the client with 401).
type authenticator func(r *http.Request, body []byte, now time.Time) error

// newAuthenticator compiles a route's authentication.
func newAuthenticator(rt Route) (authenticator, error) {
	switch rt.Auth {
	case "api_key":
		keys := make([][]byte, len(rt.APIKeys))
		for i, k := range rt.APIKeys {
			keys[i] = []byte(k)
		}
		return apiKeyAuth(keys, rt.APIKeyHeader, rt.APIKeyQuery), nil
	case "jwt":
		return jwtAuth(rt)
	case "hmac":
		return hmacAuth(rt), nil
	}
	return func(*http.Request, []byte, time.Time) error { return nil }, nil
}

// apiKeyAuth compares the presented key with every configured key in
// constant time, without stopping at a match.
func apiKeyAuth(keys [][]byte, header, query string) authenticator {
	return func(r *http.Request, _ []byte, _ time.Time) error {
		got := r.Header.Get(header)
		if got == "" && query != "" {
			got = r.URL.Query().Get(query)
		}
		if got == "" {
			if query != "" {
				return fmt.Errorf("missing API key: send it in the %s header or the %s query parameter", header, query)
			}
			return fmt.Errorf("missing API key: send it in the %s header", header)
		}
		match := 0
		for _, k := range keys {
			match |= subtle.ConstantTimeCompare([]byte(got), k)
		}
		if match != 1 {
			return errors.New("invalid API key")
		}
		return nil
	}
}

// jwtAuth verifies a bearer token signed with the route's one algorithm.
func jwtAuth(rt Route) (authenticator, error) {
	var key any
	switch rt.JWTAlgorithm {
	case "HS256":
		key = []byte(rt.JWTSecret)
	case "RS256", "ES256":
		pem, err := os.ReadFile(rt.JWTPublicKeyFile)
		if err != nil {
			return nil, err
		}
		if rt.JWTAlgorithm == "RS256" {
			var k *rsa.PublicKey
			k, err = jwt.ParseRSAPublicKeyFromPEM(pem)
			key = k
		} else {
			var k *ecdsa.PublicKey
			k, err = jwt.ParseECPublicKeyFromPEM(pem)
			key = k
		}
		if err != nil {
			return nil, fmt.Errorf("jwt_public_key_file %s: not a %s public key: %w", rt.JWTPublicKeyFile, rt.JWTAlgorithm, err)
		}
	default:
		return nil, fmt.Errorf("jwt_algorithm %q: want HS256, RS256 or ES256", rt.JWTAlgorithm)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{rt.JWTAlgorithm}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5 * time.Second),
	}
	if rt.JWTIssuer != "" {
		opts = append(opts, jwt.WithIssuer(rt.JWTIssuer))
	}
	if rt.JWTAudience != "" {
		opts = append(opts, jwt.WithAudience(rt.JWTAudience))
	}
	parser := jwt.NewParser(opts...)
	keyFunc := func(*jwt.Token) (any, error) { return key, nil }
	return func(r *http.Request, _ []byte, _ time.Time) error {
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			return errors.New("missing bearer token: send Authorization: Bearer <JWT>")
		}
		if _, err := parser.Parse(tok, keyFunc); err != nil {
			return fmt.Errorf("invalid token: %w", err)
		}
		return nil
	}, nil
}

// hmacAuth verifies an HMAC-SHA256 signature of the raw body.
func hmacAuth(rt Route) authenticator {
	secret := []byte(rt.HMACSecret)
	sign := func(parts ...[]byte) []byte {
		m := hmac.New(sha256.New, secret)
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	if rt.HMACScheme == "stripe" {
		return func(r *http.Request, body []byte, now time.Time) error {
			h := r.Header.Get(rt.HMACHeader)
			if h == "" {
				return fmt.Errorf("missing signature header %s", rt.HMACHeader)
			}
			var ts string
			var sigs [][]byte
			for part := range strings.SplitSeq(h, ",") {
				k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
				switch k {
				case "t":
					ts = v
				case "v1":
					if b, err := hex.DecodeString(v); err == nil {
						sigs = append(sigs, b)
					}
				}
			}
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return fmt.Errorf("signature header %s: no t=<unix time>", rt.HMACHeader)
			}
			if d := now.Sub(time.Unix(sec, 0)); d > rt.HMACTolerance || d < -rt.HMACTolerance {
				return fmt.Errorf("signature timestamp %d is %v away from now, more than the tolerance %v (replayed or clock skew)", sec, d.Round(time.Second), rt.HMACTolerance)
			}
			if len(sigs) == 0 {
				return fmt.Errorf("signature header %s: no v1=<hex signature>", rt.HMACHeader)
			}
			want := sign([]byte(ts), []byte("."), body)
			for _, s := range sigs {
				if hmac.Equal(s, want) {
					return nil
				}
			}
			return errors.New("signature does not match the body")
		}
	}
	return func(r *http.Request, body []byte, _ time.Time) error {
		h := r.Header.Get(rt.HMACHeader)
		if h == "" {
			return fmt.Errorf("missing signature header %s", rt.HMACHeader)
		}
		hexSig, ok := strings.CutPrefix(h, rt.HMACPrefix)
		if !ok {
			return fmt.Errorf("signature header %s must start with %q", rt.HMACHeader, rt.HMACPrefix)
		}
		got, err := hex.DecodeString(hexSig)
		if err != nil {
			return fmt.Errorf("signature header %s: not hex", rt.HMACHeader)
		}
		if !hmac.Equal(got, sign(body)) {
			return errors.New("signature does not match the body")
		}
		return nil
	}
}

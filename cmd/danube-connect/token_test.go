package main

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/danube-connect/connect/devbroker"
)

// A token from "danube-connect token" opens a devbroker started with the
// same secret; a valid HS256 token lacking a required claim is refused
// with a reason naming the claim.
func TestTokenOpensAuthenticatedBroker(t *testing.T) {
	b, err := devbroker.Start(t.Context(), devbroker.Config{JWTSecret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	r := runCLI(t, t.Context(), []string{"DANUBE_JWT_SECRET=s3cret"}, "token", "--subject", "tester", "--ttl", "1h")
	if r.code != 0 {
		t.Fatalf("token: exit %d\n%s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout.String())
	env := []string{"DANUBE_SERVICE_URL=" + b.URL(), "DANUBE_TOKEN=" + tok}
	if p := runCLI(t, t.Context(), env, "produce", "-t", "/default/auth", "-m", "hi"); p.code != 0 {
		t.Fatalf("produce with a minted token: exit %d\n%s", p.code, p.stderr)
	}
	// Without principal_type: refused, and the error says why.
	bad, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "me", "sub": "x", "principal_name": "x",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	p := runCLI(t, t.Context(), []string{"DANUBE_SERVICE_URL=" + b.URL()}, "produce", "-t", "/default/auth", "-m", "hi", "--token", bad, "--reconnect-timeout", "1s")
	if p.code != exitFailure || !strings.Contains(p.stderr.String(), "claim principal_type missing") {
		t.Fatalf("produce with a token lacking principal_type: exit %d\n%s", p.code, p.stderr)
	}
	if r := runCLI(t, t.Context(), nil, "token"); r.code != exitUsage {
		t.Fatalf("token without a secret: exit %d", r.code)
	}
}

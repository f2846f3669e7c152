package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const authTopic = "/default/webhook-auth"

func writePublicKey(t *testing.T, pub any) (path string, pemBytes []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path = filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pemBytes
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hmacHex(secret string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Every authentication mode accepts the right request and rejects the
// wrong ones with 401 naming the problem; nothing of a rejected request is
// published.
func TestAuthModes(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaPath, rsaPEM := writePublicKey(t, &rsaKey.PublicKey)
	ecPath, _ := writePublicKey(t, &ecKey.PublicKey)

	cfg := testConfig(t,
		newRoute("/open", authTopic, nil),
		newRoute("/key", authTopic, func(r *Route) {
			r.Auth, r.APIKeys, r.APIKeyQuery = "api_key", []string{"first-key", "second-key"}, "api_key"
		}),
		newRoute("/hs", authTopic, func(r *Route) {
			r.Auth, r.JWTAlgorithm, r.JWTSecret, r.JWTIssuer, r.JWTAudience = "jwt", "HS256", "hs-secret", "issuer", "webhook"
		}),
		newRoute("/rs", authTopic, func(r *Route) { r.Auth, r.JWTAlgorithm, r.JWTPublicKeyFile = "jwt", "RS256", rsaPath }),
		newRoute("/es", authTopic, func(r *Route) { r.Auth, r.JWTAlgorithm, r.JWTPublicKeyFile = "jwt", "ES256", ecPath }),
		newRoute("/github", authTopic, func(r *Route) {
			r.Auth, r.HMACSecret, r.HMACHeader, r.HMACPrefix = "hmac", "gh-secret", "X-Hub-Signature-256", "sha256="
		}),
		newRoute("/stripe", authTopic, func(r *Route) {
			r.Auth, r.HMACScheme, r.HMACSecret, r.HMACHeader, r.HMACTolerance = "hmac", "stripe", "st-secret", "Stripe-Signature", 5*time.Minute
		}),
	)
	s := startServer(t, cfg)
	s.waitReady(t)

	exp := time.Now().Add(time.Hour).Unix()
	hsGood := sign(t, jwt.SigningMethodHS256, []byte("hs-secret"), jwt.MapClaims{"iss": "issuer", "aud": "webhook", "exp": exp})
	now := strconv.FormatInt(time.Now().Unix(), 10)
	stale := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	future := strconv.FormatInt(time.Now().Add(6*time.Minute).Unix(), 10)

	type req struct {
		name    string
		path    string
		body    string
		headers []string
		query   string
		want    int
		errText string
	}
	body := func(name string) string { return fmt.Sprintf(`{"case":%q}`, name) }
	var cases []req
	add := func(name, path string, want int, errText, query string, headers ...string) {
		cases = append(cases, req{name: name, path: path, body: body(name), headers: headers, query: query, want: want, errText: errText})
	}
	add("open", "/open", 200, "", "")
	add("key header", "/key", 200, "", "", "X-API-Key: second-key")
	add("key query", "/key", 200, "", "?api_key=first-key")
	add("key missing", "/key", 401, "missing API key", "")
	add("key wrong", "/key", 401, "invalid API key", "", "X-API-Key: first-kez")
	add("key prefix", "/key", 401, "invalid API key", "", "X-API-Key: first")
	add("hs good", "/hs", 200, "", "", "Authorization: Bearer "+hsGood)
	add("hs no token", "/hs", 401, "missing bearer token", "")
	add("hs wrong secret", "/hs", 401, "invalid token", "", "Authorization: Bearer "+
		sign(t, jwt.SigningMethodHS256, []byte("guess"), jwt.MapClaims{"iss": "issuer", "aud": "webhook", "exp": exp}))
	add("hs expired", "/hs", 401, "expired", "", "Authorization: Bearer "+
		sign(t, jwt.SigningMethodHS256, []byte("hs-secret"), jwt.MapClaims{"iss": "issuer", "aud": "webhook", "exp": time.Now().Add(-time.Hour).Unix()}))
	add("hs no exp", "/hs", 401, "invalid token", "", "Authorization: Bearer "+
		sign(t, jwt.SigningMethodHS256, []byte("hs-secret"), jwt.MapClaims{"iss": "issuer", "aud": "webhook"}))
	add("hs wrong audience", "/hs", 401, "invalid token", "", "Authorization: Bearer "+
		sign(t, jwt.SigningMethodHS256, []byte("hs-secret"), jwt.MapClaims{"iss": "issuer", "aud": "other", "exp": exp}))
	add("hs none alg", "/hs", 401, "invalid token", "", "Authorization: Bearer "+
		sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"iss": "issuer", "aud": "webhook", "exp": exp}))
	add("rs good", "/rs", 200, "", "", "Authorization: Bearer "+sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"exp": exp}))
	// The classic confusion: an HS256 token keyed with the RSA public key.
	add("rs as hs", "/rs", 401, "signing method HS256 is invalid", "", "Authorization: Bearer "+
		sign(t, jwt.SigningMethodHS256, rsaPEM, jwt.MapClaims{"exp": exp}))
	add("es good", "/es", 200, "", "", "Authorization: Bearer "+sign(t, jwt.SigningMethodES256, ecKey, jwt.MapClaims{"exp": exp}))
	add("es other key", "/es", 401, "invalid token", "", "Authorization: Bearer "+sign(t, jwt.SigningMethodES256, otherEC, jwt.MapClaims{"exp": exp}))
	add("es as rs", "/es", 401, "signing method RS256 is invalid", "", "Authorization: Bearer "+sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"exp": exp}))
	add("github good", "/github", 200, "", "", "X-Hub-Signature-256: sha256="+hmacHex("gh-secret", body("github good")))
	add("github missing", "/github", 401, "missing signature header X-Hub-Signature-256", "")
	add("github other body", "/github", 401, "does not match", "", "X-Hub-Signature-256: sha256="+hmacHex("gh-secret", "{}"))
	add("github no prefix", "/github", 401, "must start with", "", "X-Hub-Signature-256: "+hmacHex("gh-secret", body("github no prefix")))
	add("stripe good", "/stripe", 200, "", "", "Stripe-Signature: t="+now+",v1="+hmacHex("st-secret", now, ".", body("stripe good")))
	add("stripe second sig", "/stripe", 200, "", "", "Stripe-Signature: t="+now+",v1=00ff,v1="+hmacHex("st-secret", now, ".", body("stripe second sig")))
	add("stripe replayed", "/stripe", 401, "more than the tolerance", "", "Stripe-Signature: t="+stale+",v1="+hmacHex("st-secret", stale, ".", body("stripe replayed")))
	add("stripe future", "/stripe", 401, "more than the tolerance", "", "Stripe-Signature: t="+future+",v1="+hmacHex("st-secret", future, ".", body("stripe future")))
	add("stripe no time", "/stripe", 401, "no t=", "", "Stripe-Signature: v1="+hmacHex("st-secret", now, ".", body("stripe no time")))
	add("stripe wrong secret", "/stripe", 401, "does not match", "", "Stripe-Signature: t="+now+",v1="+hmacHex("guess", now, ".", body("stripe wrong secret")))

	var accepted []string
	for _, c := range cases {
		rep := s.post(t, c.path+c.query, "application/json", []byte(c.body), c.headers...)
		if rep.status != c.want {
			t.Errorf("%s: status %d, want %d: %s", c.name, rep.status, c.want, rep.body)
			continue
		}
		if c.want == 200 {
			accepted = append(accepted, c.body)
		} else if !contains(rep.body, c.errText) {
			t.Errorf("%s: answer %q does not say %q", c.name, rep.body, c.errText)
		}
	}
	got := payloads(s.run)
	slices.Sort(got)
	slices.Sort(accepted)
	if !slices.Equal(got, accepted) {
		t.Fatalf("published %q\nwant exactly the accepted requests %q", got, accepted)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

package devbroker

import (
	"time"

	"github.com/danube-connect/connect/devbroker/internal/auth"
)

// TokenClaims lists the JWT claims a broker started with Config.JWTSecret
// requires in every token, as a Danube broker in tls auth mode does:
//
//   - iss: the issuer (any string; Danube's tools write "danube-auth");
//   - sub: the subject (any string);
//   - exp: the expiry, Unix seconds (accepted up to 60 s after it);
//   - principal_type: service_account, user or broker_internal (other
//     values count as service_account);
//   - principal_name: the principal the broker authorizes.
//
// The token must be signed with HS256 and the shared secret. A refused
// token fails every call with UNAUTHENTICATED "Invalid token: <reason>",
// the reason naming the missing claim or the failed check (a Danube
// broker says only "Invalid token").
const TokenClaims = auth.RequiredClaims

// MintToken returns an HS256 token that a broker with Config.JWTSecret =
// secret accepts until ttl from now: sub and principal_name are subject,
// principal_type is service_account and iss is "danube-auth", as Danube's
// admin tool makes them.
func MintToken(secret []byte, subject string, ttl time.Duration) (string, error) {
	return auth.MintToken(secret, subject, ttl)
}

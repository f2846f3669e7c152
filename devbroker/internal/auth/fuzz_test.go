package auth

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// FuzzAuthenticate: any authorization header value is either accepted with a principal or
// rejected with UNAUTHENTICATED; nothing panics.
func FuzzAuthenticate(f *testing.F) {
	tok, err := MintToken(secret, "svc", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"Bearer " + tok, "bearer " + tok, "Bearer ", "Bearer a.b.c", "Basic x", "Bearer \xff", tok} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a := &authenticator{secret: secret, now: time.Now, cache: map[string]cached{}}
		ctx := metadata.NewIncomingContext(t.Context(), metadata.MD{"authorization": []string{header}})
		p, err := a.authenticate(ctx)
		if err != nil {
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("rejected with %v", err)
			}
			return
		}
		if p.Type == "" {
			t.Fatalf("accepted %q without principal type", header)
		}
	})
}

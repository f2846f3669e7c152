// Package topicname is the one check of Danube topic names, shared by the
// configuration, the client and the devbroker so that a name one of them
// accepts is accepted by all.
package topicname

import (
	"fmt"
	"strings"
	"unicode"
)

// Check reports whether name has the "/namespace/topic" form the broker
// enforces: a leading slash and two non-empty segments of Unicode letters,
// digits, '_' and '-'. The error says what is wrong.
func Check(name string) error {
	rest, ok := strings.CutPrefix(name, "/")
	ns, tp, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || ns == "" || tp == "" {
		return fmt.Errorf("topic %q: want /namespace/topic", name)
	}
	for _, seg := range []string{ns, tp} {
		for _, r := range seg {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
				return fmt.Errorf("topic %q: invalid character %q (letters, digits, '_' and '-' only)", name, r)
			}
		}
	}
	return nil
}

// Valid reports whether Check accepts name.
func Valid(name string) bool { return Check(name) == nil }

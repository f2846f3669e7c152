package config

import (
	"cmp"
	"slices"
	"strings"
)

// FieldError is one problem with one key. Path is the full key path from
// the document root ("retry.max_retries", "topics[1].subscription").
type FieldError struct {
	Path string
	Msg  string
}

// Error returns "path: message".
func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Error is every problem found while loading one configuration, sorted by
// key path. Unwrap returns the *FieldError values, so errors.As finds
// them. The command line reports an *Error with exit code 2.
type Error struct {
	// Source names the file (or "" for a struct validated in Go).
	Source string
	// Problems are sorted by Path, then message.
	Problems []*FieldError
}

// Error lists the problems one per line, each prefixed with the source.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.Source != "" {
			b.WriteString(e.Source)
			b.WriteString(": ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *Error) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p
	}
	return out
}

// newError returns nil for no problems, else a sorted, deduplicated *Error.
func newError(source string, probs []*FieldError) error {
	if len(probs) == 0 {
		return nil
	}
	probs = slices.Clone(probs)
	slices.SortStableFunc(probs, func(a, b *FieldError) int {
		return cmp.Or(comparePaths(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
	})
	probs = slices.CompactFunc(probs, func(a, b *FieldError) bool { return *a == *b })
	return &Error{Source: source, Problems: probs}
}

// comparePaths orders key paths so that list indexes sort numerically
// ("topics[2]" before "topics[10]").
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		ai, bi := numPrefixEnd(a), numPrefixEnd(b)
		if ai > 0 && bi > 0 {
			if c := cmp.Compare(ai, bi); c != 0 {
				return c
			}
			if c := strings.Compare(a[:ai], b[:bi]); c != 0 {
				return c
			}
			a, b = a[ai:], b[bi:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func numPrefixEnd(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

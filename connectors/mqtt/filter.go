package mqtt

import (
	"errors"
	"strings"
)

// sharePrefix starts a shared subscription: $share/GROUP/filter.
const sharePrefix = "$share/"

// validFilter checks an MQTT topic filter: '#' only as the last level and
// alone in it, '+' alone in its level, no empty filter, no NUL; a shared
// subscription ($share/GROUP/filter) only with MQTT 5.
func validFilter(f string, v5 bool) error {
	if strings.HasPrefix(f, sharePrefix) {
		if !v5 {
			return errors.New("shared subscriptions ($share/) need protocol_version = \"5\"")
		}
		group, rest, ok := strings.Cut(f[len(sharePrefix):], "/")
		if !ok || group == "" || strings.ContainsAny(group, "+#") || rest == "" {
			return errors.New("want $share/GROUP/filter")
		}
		f = rest
	}
	if f == "" {
		return errors.New("empty filter")
	}
	if strings.ContainsRune(f, 0) {
		return errors.New("filter contains NUL")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case strings.Contains(l, "#") && (l != "#" || i != len(levels)-1):
			return errors.New("'#' must be the whole last level")
		case strings.Contains(l, "+") && l != "+":
			return errors.New("'+' must be a whole level")
		}
	}
	return nil
}

// subscriptionFilter returns the filter a message is matched against: a
// shared subscription's filter without $share/GROUP/.
func subscriptionFilter(f string) string {
	if !strings.HasPrefix(f, sharePrefix) {
		return f
	}
	_, rest, _ := strings.Cut(f[len(sharePrefix):], "/")
	return rest
}

// matches reports whether topic matches filter by the MQTT rules: '+'
// matches exactly one level, a final '#' matches any number of levels
// including none (so "a/#" matches "a"), and a filter starting with a
// wildcard does not match topics starting with '$'.
func matches(filter, topic string) bool {
	filter = subscriptionFilter(filter)
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// The topic ended: only a remaining "#" level matches nothing.
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

package danube

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode"
)

// validateTopic checks the "/namespace/topic" format the broker enforces
// (protocol section 3.1): a leading slash and two non-empty segments of
// Unicode letters and digits, '_' or '-'.
func validateTopic(topic string) error {
	parts := strings.Split(topic, "/")
	if len(parts) != 3 || parts[0] != "" || parts[1] == "" || parts[2] == "" {
		return fmt.Errorf("topic %q: want /namespace/topic", topic)
	}
	for _, seg := range parts[1:] {
		for _, r := range seg {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
				return fmt.Errorf("topic %q: invalid character %q (letters, digits, '_' and '-' only)", topic, r)
			}
		}
	}
	return nil
}

// generateName returns prefix followed by a random base-36 suffix.
func generateName(prefix string) string {
	return prefix + strconv.FormatUint(rand.Uint64(), 36)
}

package danube

import (
	"math/rand/v2"
	"strconv"

	"github.com/danube-connect/connect/internal/topicname"
)

// validateTopic checks the "/namespace/topic" format the broker enforces
// (protocol section 3.1), with the check the configuration and the
// devbroker use too.
func validateTopic(topic string) error { return topicname.Check(topic) }

// generateName returns prefix followed by a random base-36 suffix.
func generateName(prefix string) string {
	return prefix + strconv.FormatUint(rand.Uint64(), 36)
}

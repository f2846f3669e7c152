package connect_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// goroutine of a runtime (intakes, lanes, ack workers, commit and retry
// loops) ends when Run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

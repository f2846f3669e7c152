package danube_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// goroutine of a client, producer or consumer ends with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

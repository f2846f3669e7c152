package connecttest

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a harness starts (runtimes, clients, brokers) ends with
// the test's cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

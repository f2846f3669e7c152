package httpsink

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test starts (servers, runtimes, clients) ends with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

package testchild_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect/internal/testchild"
)

const env = "TESTCHILD_BLOCK"

// TestBlockingChild is the child of TestCleanupKillsChild: it blocks
// until killed.
func TestBlockingChild(t *testing.T) {
	if os.Getenv(env) == "" {
		t.Skip("started by TestCleanupKillsChild only")
	}
	time.Sleep(time.Hour)
}

// The child runs the named test with the environment given, and the
// test's cleanup kills and reaps it.
func TestCleanupKillsChild(t *testing.T) {
	var cmd *exec.Cmd
	t.Run("run", func(t *testing.T) {
		cmd = testchild.Start(t, "^TestBlockingChild$", env+"=1")
		if cmd.ProcessState != nil {
			t.Fatalf("child ended at once: %v", cmd.ProcessState)
		}
	})
	if cmd.ProcessState == nil {
		t.Fatal("child not reaped at cleanup")
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", cmd.ProcessState)
	}
}

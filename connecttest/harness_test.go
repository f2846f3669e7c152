package connecttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
)

// A record that is never resolved fails Wait when its time is up, with
// what was seen; the runtime still stops cleanly.
func TestWaitFailsWhenRecordsStayUnresolved(t *testing.T) {
	t.Parallel()
	failing := connect.SinkFunc(func(context.Context, connect.SinkRecord) error {
		return connect.Retryable(errors.New("target down"))
	})
	f := runFake(t, func(t testing.TB) {
		run := RunSink(t, failing, WithTimeout(300*time.Millisecond),
			WithSinkConfig(func(c *connect.SinkConfig) { c.Topics[0].MaxRedeliveries = -1 })) // nack forever
		run.Publish(Message{Payload: []byte("x")})
		run.Wait()
		t.Errorf("Wait returned")
	})
	if out := f.output(); !strings.Contains(out, "1 of 1 published messages not resolved within 300ms") || strings.Contains(out, "Wait returned") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestWaitTimeoutFollowsTheDeadline(t *testing.T) {
	t.Parallel()
	if got := waitTimeout(t, time.Minute); got != time.Minute {
		t.Errorf("configured: %v", got)
	}
	soon := &fakeTB{TB: deadlineTB{t, time.Now().Add(10 * time.Second)}}
	if got := waitTimeout(soon, 0); got > 9*time.Second || got < 8*time.Second {
		t.Errorf("10s before the deadline: %v, want 9s", got)
	}
	late := &fakeTB{TB: deadlineTB{t, time.Now().Add(-time.Second)}}
	if got := waitTimeout(late, 0); got != minTimeout {
		t.Errorf("after the deadline: %v, want %v", got, minTimeout)
	}
	if got := waitTimeout(&exampleLikeTB{}, 0); got != defaultTimeout {
		t.Errorf("no deadline: %v, want %v", got, defaultTimeout)
	}
}

type deadlineTB struct {
	testing.TB
	deadline time.Time
}

func (d deadlineTB) Deadline() (time.Time, bool) { return d.deadline, true }

type exampleLikeTB struct{ testing.TB }

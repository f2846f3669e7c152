package connect

import (
	"context"

	"github.com/danube-connect/connect/internal/offsets"
)

func (run *sourceRun) commitLoop(ctx context.Context) {
	for {
		select {
		case <-run.commitSig:
		case <-ctx.Done():
			return
		}
		if err := run.commit(ctx, false); err != nil && ClassOf(err) == ClassFatal {
			run.fail(err)
		}
		if !sleepCtx(ctx, run.r.cfg.CommitInterval) {
			return
		}
	}
}

// commit saves the committable offsets to the store and hands them to the
// source's Committer. Called from one goroutine at a time.
func (run *sourceRun) commit(ctx context.Context, final bool) error {
	r := run.r
	if !run.needCommit.Swap(false) {
		return nil
	}
	offs, _ := run.tracker.Snapshot()
	if err := r.cfg.OffsetStore.Save(ctx, r.cfg.Name, offs); err != nil {
		run.needCommit.Store(true)
		r.log.Error("saving offsets failed; retrying at the next commit", "err", err)
		return err
	}
	run.lastOffsets = offs
	if c, ok := r.src.(Committer); ok {
		if err := callProtected("Commit", func() error { return c.Commit(ctx, Offsets(offsets.Clone(offs))) }); err != nil {
			if ClassOf(err) == ClassFatal {
				return err
			}
			run.needCommit.Store(true)
			r.log.Warn("source commit failed; retrying at the next commit", "err", err)
			return err
		}
	}
	r.log.Debug("offsets committed", "offsets", offs, "final", final)
	return nil
}

package runner

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// quietPeriod is how long a changed file must stay unchanged before its
// connector is reloaded (editors write in several steps).
const quietPeriod = 100 * time.Millisecond

// reloadLoop turns Reload (every unit) and changes of the units' files
// (that unit, after quietPeriod) into reload requests.
func (r *Runner) reloadLoop(ctx context.Context, units []*unit) {
	var events <-chan fsnotify.Event
	var werrs <-chan error
	byPath := map[string]*unit{}
	if r.Watch {
		dirs := map[string]bool{}
		for _, u := range units {
			if u.c.File == "" {
				continue
			}
			abs, _ := filepath.Abs(u.c.File)
			byPath[abs] = u
			dirs[filepath.Dir(abs)] = true
		}
		if len(dirs) > 0 {
			w, err := fsnotify.NewWatcher()
			if err != nil {
				r.log().Warn("cannot watch configuration files; reload by request only", "err", err)
			} else {
				defer w.Close()
				for d := range dirs {
					if err := w.Add(d); err != nil {
						r.log().Warn("cannot watch configuration directory; reload by request only", "dir", d, "err", err)
					}
				}
				events, werrs = w.Events, w.Errors
			}
		}
	}
	reload := r.Reload
	pending := map[*unit]time.Time{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-reload:
			if !ok {
				reload = nil // closed: no more requests
				continue
			}
			r.log().Info("reload requested: reloading every connector")
			for _, u := range units {
				u.requestReload()
			}
		case ev := <-events:
			abs, _ := filepath.Abs(ev.Name)
			u, ok := byPath[abs]
			if !ok || !ev.Has(fsnotify.Write|fsnotify.Create|fsnotify.Rename) {
				continue
			}
			pending[u] = time.Now().Add(quietPeriod)
			timer.Reset(quietPeriod)
		case err := <-werrs:
			r.log().Warn("watching configuration files", "err", err)
		case now := <-timer.C:
			next := time.Duration(0)
			for u, due := range pending {
				if !now.Before(due) {
					delete(pending, u)
					u.requestReload()
				} else if d := due.Sub(now); next == 0 || d < next {
					next = d
				}
			}
			if next > 0 {
				timer.Reset(next)
			}
		}
	}
}

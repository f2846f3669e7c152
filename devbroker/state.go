package devbroker

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect/devbroker/internal/registry"
	"github.com/danube-connect/connect/internal/topicname"
	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// Lock order. A goroutine holding one of these mutexes may only acquire those further down:
//
//	state.mu → topic.mu → subscription.mu → topicLog.mu
//
// state.idMu, journal.mu and registry locks are leaves: nothing else is acquired while holding
// them. Publishing to a dead-letter topic happens with no lock held (see subscription.kick).

// state is everything one incarnation of the broker knows. Restart discards it and loads a new
// one from the data directory.
type state struct {
	cfg     Config
	log     *slog.Logger
	reg     *registry.Registry
	journal *journal // nil without a data directory
	routes  func(topic string) (Route, bool)

	mu         sync.RWMutex
	namespaces map[string]bool
	topics     map[string]*topic

	idMu      sync.Mutex
	producers map[uint64]*producer
	consumers map[uint64]*consumer
	dlqID     uint64 // producer id stamped on dead-letter copies

	policyFor func(topic, sub string) (FailurePolicy, bool) // SetFailurePolicy overrides

	stop   context.CancelFunc
	ticker sync.WaitGroup
}

// topic is one topic (or partition). Reliable topics have a log.
type topic struct {
	st       *state
	name     string
	reliable bool
	log      *topicLog // reliable only

	mu        sync.RWMutex
	producers map[string]*producer
	subs      map[string]*subscription
	subList   []*subscription // subs in creation order, for dispatch
	schema    registry.TopicPolicy
}

// producer is a registered producer. Producers are not tied to connections.
type producer struct {
	id    uint64
	name  string
	topic *topic
}

// openState builds a state from cfg, replaying the data directory when there is one, and
// starts its timer goroutine.
func openState(cfg Config, routes func(string) (Route, bool), policyFor func(topic, sub string) (FailurePolicy, bool)) (*state, error) {
	st := &state{
		cfg:        cfg,
		log:        cfg.Logger,
		routes:     routes,
		namespaces: map[string]bool{"default": true, "system": true},
		topics:     map[string]*topic{},
		producers:  map[uint64]*producer{},
		consumers:  map[uint64]*consumer{},
		policyFor:  policyFor,
	}
	for _, ns := range cfg.Namespaces {
		st.namespaces[ns] = true
	}
	st.dlqID = st.newID()
	regDir := ""
	if cfg.DataDir != "" {
		regDir = filepath.Join(cfg.DataDir, "schemas")
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	reg, err := registry.Open(regDir, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("open schema registry: %w", err)
	}
	st.reg = reg
	if cfg.DataDir != "" {
		if err := st.load(); err != nil {
			st.closeFiles()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.stop = cancel
	st.ticker.Go(func() { st.tick(ctx) })
	return st, nil
}

// close stops the timer goroutine, persists cursors and closes the files. Streams must already
// be gone (the gRPC server is stopped first).
func (st *state) close() error {
	st.stop()
	st.ticker.Wait()
	st.persistCursors(true)
	return st.closeFiles()
}

func (st *state) closeFiles() error {
	st.mu.RLock()
	defer st.mu.RUnlock()
	var firstErr error
	for _, t := range st.topics {
		if t.log != nil {
			if err := t.log.close(); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	if err := st.journal.close(); err != nil && firstErr == nil {
		firstErr = err
	}
	if err := st.reg.Close(); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// tick drives ack timeouts, redelivery delays, cursor persistence and the retention.
func (st *state) tick(ctx context.Context) {
	t := time.NewTicker(st.cfg.TimerTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, s := range st.reliableSubs() {
				s.kick(now, true)
			}
			st.persistCursors(false)
			st.retain(now)
		}
	}
}

func (st *state) reliableSubs() []*subscription {
	st.mu.RLock()
	defer st.mu.RUnlock()
	var subs []*subscription
	for _, t := range st.topics {
		if !t.reliable {
			continue
		}
		t.mu.RLock()
		subs = append(subs, t.subList...)
		t.mu.RUnlock()
	}
	return subs
}

// persistCursors writes the cursors that moved since they were last written. Cursor records are
// not fsynced except when sync is set (on close): after a crash a subscription may redeliver
// messages acknowledged during the last tick, which at-least-once allows.
func (st *state) persistCursors(sync bool) {
	if st.journal == nil {
		return
	}
	var recs []record
	for _, s := range st.reliableSubs() {
		if r, ok := s.cursorRecord(); ok {
			recs = append(recs, r)
		}
	}
	if err := st.journal.write(sync, recs...); err != nil {
		st.log.Warn("persist cursors", "error", err)
	}
	if sync && len(recs) == 0 {
		// Cursors written earlier without fsync must be stable too.
		if err := st.journal.flush(); err != nil {
			st.log.Warn("persist cursors", "error", err)
		}
	}
}

// newID returns a fresh random non-zero id, unique among producers and consumers.
func (st *state) newID() uint64 {
	for {
		id := rand.Uint64()
		if id == 0 {
			continue
		}
		st.idMu.Lock()
		_, p := st.producers[id]
		_, c := st.consumers[id]
		st.idMu.Unlock()
		if !p && !c {
			return id
		}
	}
}

// validTopicName reports whether name is "/namespace/topic" with non-empty segments of letters,
// digits, '_' and '-'.
func validTopicName(name string) bool { return topicname.Valid(name) }

func namespaceOf(name string) string {
	ns, _, _ := strings.Cut(name[1:], "/")
	return ns
}

// partitionOf splits "/ns/t-part-3" into ("/ns/t", 3, true).
func partitionOf(name string) (base string, index int, ok bool) {
	i := strings.LastIndex(name, "-part-")
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+len("-part-"):])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return name[:i], n, true
}

// topic returns the named topic or nil.
func (st *state) topic(name string) *topic {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.topics[name]
}

// createError says why a topic could not be created; code is the gRPC code to answer with.
type createError struct {
	code codes.Code
	msg  string
}

func (e *createError) Error() string { return e.msg }

// createTopic creates a topic, or returns the existing one.
func (st *state) createTopic(name string, reliable bool) (*topic, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if t := st.topics[name]; t != nil {
		return t, nil
	}
	if !st.namespaces[namespaceOf(name)] {
		return nil, &createError{codes.Unavailable, fmt.Sprintf("Unable to find the namespace %s", namespaceOf(name))}
	}
	if base, _, ok := partitionOf(name); ok {
		if st.topics[base] != nil {
			return nil, &createError{codes.AlreadyExists, fmt.Sprintf("the partition %s conflicts with the existing topic %s", name, base)}
		}
	} else {
		for other := range st.topics {
			if b, _, ok := partitionOf(other); ok && b == name {
				return nil, &createError{codes.AlreadyExists, fmt.Sprintf("the topic %s conflicts with the existing partition %s", name, other)}
			}
		}
	}
	t, err := st.newTopic(name, reliable)
	if err != nil {
		return nil, &createError{codes.Internal, err.Error()}
	}
	if err := st.journal.write(true, record{Kind: recTopic, Topic: name, Reliable: reliable}); err != nil {
		t.closeLog()
		return nil, &createError{codes.Internal, err.Error()}
	}
	st.topics[name] = t
	return t, nil
}

func (st *state) newTopic(name string, reliable bool) (*topic, error) {
	t := &topic{
		st:        st,
		name:      name,
		reliable:  reliable,
		producers: map[string]*producer{},
		subs:      map[string]*subscription{},
		schema:    registry.TopicPolicy{Policy: registry.PolicyWarn},
	}
	if reliable {
		dir := ""
		if st.cfg.DataDir != "" {
			dir = filepath.Join(st.cfg.DataDir, "topics", filepath.FromSlash(name[1:]))
		}
		l, err := openTopicLog(dir, st.cfg.Sync, st.cfg.limits())
		if err != nil {
			return nil, fmt.Errorf("open log of topic %s: %w", name, err)
		}
		t.log = l
	}
	return t, nil
}

func (t *topic) closeLog() {
	if t.log != nil {
		t.log.close()
	}
}

// topicNames returns the names of all topics, sorted.
func (st *state) topicNames() []string {
	st.mu.RLock()
	defer st.mu.RUnlock()
	names := make([]string, 0, len(st.topics))
	for n := range st.topics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// partitions answers TopicPartitions: [name] if it exists, else its partitions by index.
func (st *state) partitions(name string) []string {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.topics[name] != nil {
		return []string{name}
	}
	type part struct {
		name  string
		index int
	}
	var parts []part
	for other := range st.topics {
		if b, i, ok := partitionOf(other); ok && b == name {
			parts = append(parts, part{other, i})
		}
	}
	slices.SortFunc(parts, func(a, b part) int { return a.index - b.index })
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.name
	}
	return out
}

// failurePolicy returns the policy for a new subscription.
func (st *state) failurePolicy(topic, sub string) FailurePolicy {
	if p, ok := st.policyFor(topic, sub); ok {
		return p.withDefaults()
	}
	return st.cfg.FailurePolicy.withDefaults()
}

// producerByID returns the registered producer or nil.
func (st *state) producerByID(id uint64) *producer {
	st.idMu.Lock()
	defer st.idMu.Unlock()
	return st.producers[id]
}

// consumerByID returns the registered consumer or nil.
func (st *state) consumerByID(id uint64) *consumer {
	st.idMu.Lock()
	defer st.idMu.Unlock()
	return st.consumers[id]
}

// addProducer registers p under its id and in its topic. The caller holds p.topic.mu.
func (st *state) addProducer(p *producer) {
	st.idMu.Lock()
	st.producers[p.id] = p
	st.idMu.Unlock()
	p.topic.producers[p.name] = p
}

// dropProducers forgets every producer of t (topic unload).
func (st *state) forgetProducer(p *producer) {
	st.idMu.Lock()
	delete(st.producers, p.id)
	st.idMu.Unlock()
}

// publish appends m to t: stamped into the log for reliable topics (after which the
// subscriptions are woken), pushed to the subscriptions for non-reliable ones.
func (t *topic) publish(m *danubepb.StreamMessage) error {
	if !t.reliable {
		t.mu.RLock()
		for _, s := range t.subList {
			s.publishNonReliable(m)
		}
		t.mu.RUnlock()
		return nil
	}
	notify, err := t.log.append(m)
	if err != nil {
		return err
	}
	if notify {
		t.wake()
	}
	return nil
}

// wake lets every subscription pull newly visible messages.
func (t *topic) wake() {
	t.mu.RLock()
	subs := t.subList
	t.mu.RUnlock()
	now := time.Now()
	for _, s := range subs {
		s.kick(now, false)
	}
}

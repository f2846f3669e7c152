package devbroker

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/danube-connect/connect/devbroker/internal/registry"
	"github.com/danube-connect/connect/internal/wire/danubepb"
)

const journalName = "meta.log"

// load rebuilds topics, producers, subscriptions (at their persisted cursors) and consumers
// (inactive until they subscribe or open a stream) from the data directory, then rewrites the
// journal compacted.
func (st *state) load() error {
	path := filepath.Join(st.cfg.DataDir, journalName)
	recs, err := readJournal(path)
	if err != nil {
		return err
	}
	type subInfo struct {
		typ       int32
		cursor    uint64
		consumers []record
	}
	type topicInfo struct {
		reliable  bool
		producers []record
		subs      map[string]*subInfo
		subOrder  []string
		schema    *record
	}
	infos := map[string]*topicInfo{}
	var order []string
	for _, r := range recs {
		ti := infos[r.Topic]
		if r.Kind == recTopic {
			if ti == nil {
				infos[r.Topic] = &topicInfo{reliable: r.Reliable, subs: map[string]*subInfo{}}
				order = append(order, r.Topic)
			}
			continue
		}
		if ti == nil {
			continue // records of a topic whose creation record was lost
		}
		switch r.Kind {
		case recProducer:
			ti.producers = slices.DeleteFunc(ti.producers, func(p record) bool { return p.Name == r.Name })
			ti.producers = append(ti.producers, r)
		case recSub:
			if ti.subs[r.Sub] == nil {
				ti.subs[r.Sub] = &subInfo{typ: r.Type, cursor: r.Cursor}
				ti.subOrder = append(ti.subOrder, r.Sub)
			}
		case recCursor:
			if si := ti.subs[r.Sub]; si != nil {
				si.cursor = r.Cursor
			}
		case recConsumer, recForget:
			if si := ti.subs[r.Sub]; si != nil {
				si.consumers = slices.DeleteFunc(si.consumers, func(c record) bool { return c.Name == r.Name })
				if r.Kind == recConsumer {
					si.consumers = append(si.consumers, r)
				}
			}
		case recSchema:
			ti.schema = &r
		}
	}

	var compact []record
	for _, name := range order {
		ti := infos[name]
		t, err := st.newTopic(name, ti.reliable)
		if err != nil {
			return err
		}
		st.topics[name] = t
		st.namespaces[namespaceOf(name)] = true
		compact = append(compact, record{Kind: recTopic, Topic: name, Reliable: ti.reliable})
		if ti.schema != nil {
			policy, err := registry.ParsePolicy(ti.schema.Policy)
			if err != nil {
				policy = registry.PolicyWarn
			}
			t.schema = registry.TopicPolicy{Subject: ti.schema.Subject, Policy: policy, PayloadValidation: ti.schema.Payload}
			compact = append(compact, t.schemaRecord())
		}
		for _, pr := range ti.producers {
			p := &producer{id: pr.ID, name: pr.Name, topic: t}
			st.addProducer(p)
			compact = append(compact, pr)
		}
		var visible uint64
		if t.log != nil {
			visible = t.log.visible()
		}
		for _, subName := range ti.subOrder {
			si := ti.subs[subName]
			cursor := si.cursor
			if !t.reliable {
				cursor = 0
			}
			// A cursor beyond the log means the log lost its unsynced tail (SyncNever and a
			// power loss); continue at its end.
			cursor = min(cursor, visible)
			s := newSubscription(t, subName, danubepb.ConsumerRequest_SubscriptionType(si.typ), cursor)
			t.subs[subName] = s
			t.subList = append(t.subList, s)
			compact = append(compact, record{Kind: recSub, Topic: name, Sub: subName, Type: si.typ, Cursor: cursor})
			for _, cr := range si.consumers {
				c := &consumer{id: cr.ID, name: cr.Name, sub: s, filters: cr.Filters}
				s.consumers = append(s.consumers, c)
				st.consumers[c.id] = c
				compact = append(compact, cr)
			}
			s.rebuildRingLocked()
		}
	}
	j, err := createJournal(path, compact, st.cfg.Sync != SyncNever)
	if err != nil {
		return fmt.Errorf("rewrite journal: %w", err)
	}
	st.journal = j
	return nil
}

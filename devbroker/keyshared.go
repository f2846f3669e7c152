package devbroker

import (
	"slices"
	"strconv"
)

// ringNode is one virtual node of a KeyShared subscription's consistent-hash ring.
type ringNode struct {
	hash uint32
	c    *consumer
}

// vnodesPerConsumer is the number of ring nodes per consumer, as on a Danube broker.
const vnodesPerConsumer = 100

// rebuildRingLocked recomputes the ring after consumers joined or left. Nodes are keyed
// "{consumer_id}-{vnode}" like on a Danube broker.
func (s *subscription) rebuildRingLocked() {
	if s.typ != subKeyShared {
		return
	}
	s.ring = s.ring[:0]
	var buf []byte
	for _, c := range s.consumers {
		for v := range vnodesPerConsumer {
			buf = strconv.AppendUint(buf[:0], c.id, 10)
			buf = append(buf, '-')
			buf = strconv.AppendInt(buf, int64(v), 10)
			s.ring = append(s.ring, ringNode{hash: keyHash(buf), c: c})
		}
	}
	slices.SortFunc(s.ring, func(a, b ringNode) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
}

// pickKeyLocked chooses the consumer of key: among the consumers whose filters accept the key, the
// only one, or the first active one clockwise from the key's hash on the ring. skip reports that
// the subscription has consumers but none accepts the key; c is nil when the accepting consumers
// are all inactive.
func (s *subscription) pickKeyLocked(key string) (c *consumer, skip bool) {
	eligible := 0
	var only *consumer
	for _, cand := range s.consumers {
		if cand.accepts(key) {
			eligible++
			only = cand
		}
	}
	switch eligible {
	case 0:
		return nil, len(s.consumers) > 0
	case 1:
		if only.ch != nil {
			return only, false
		}
		return nil, false
	}
	h := keyHash([]byte(key))
	start, _ := slices.BinarySearchFunc(s.ring, h, func(n ringNode, h uint32) int {
		switch {
		case n.hash < h:
			return -1
		case n.hash > h:
			return 1
		}
		return 0
	})
	for k := range len(s.ring) {
		n := s.ring[(start+k)%len(s.ring)]
		if n.c.ch != nil && n.c.accepts(key) {
			return n.c, false
		}
	}
	return nil, false
}

// keyHash is FNV-1a-64 folded to 32 bits (high xor low) and finished with the murmur3 32-bit
// finalizer, the hash of a Danube broker's KeyShared ring.
func keyHash(b []byte) uint32 {
	x := uint64(0xcbf29ce484222325)
	for _, c := range b {
		x ^= uint64(c)
		x *= 0x100000001b3
	}
	h := uint32(x>>32) ^ uint32(x)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// globMatch reports whether the whole of s matches pattern, where '*' matches any sequence of
// bytes, '?' exactly one byte and every other byte itself.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

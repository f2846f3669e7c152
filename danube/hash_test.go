package danube

import (
	"hash/fnv"
	"testing"
)

func TestFNV1a64KnownVectors(t *testing.T) {
	// Reference vectors of the FNV-1a 64-bit specification.
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
		{"foobar", 0x85944171f73967e8},
	}
	for _, tc := range tests {
		if got := fnv1a64(tc.in); got != tc.want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestFNV1a64MatchesStdlib(t *testing.T) {
	for _, s := range []string{"order-42", "key-1", "key-2", "用户", "a longer routing key with spaces"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := fnv1a64(s), h.Sum64(); got != want {
			t.Errorf("fnv1a64(%q) = %#x, hash/fnv says %#x", s, got, want)
		}
	}
}

func TestKeyPartition(t *testing.T) {
	tests := []struct {
		key  string
		n    int
		want int
	}{
		{"a", 3, 1},
		{"a", 7, 5},
		{"foobar", 3, 0},
		{"foobar", 7, 6},
		{"order-42", 3, 2},
		{"key-1", 7, 3},
		{"用户", 7, 4},
		{"anything", 1, 0},
	}
	for _, tc := range tests {
		if got := keyPartition(tc.key, tc.n); got != tc.want {
			t.Errorf("keyPartition(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
}

func TestPartitionTopic(t *testing.T) {
	if got := PartitionTopic("/default/orders", 10); got != "/default/orders-part-10" {
		t.Fatalf("PartitionTopic = %q", got)
	}
}

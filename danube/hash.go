package danube

// FNV-1a 64-bit parameters, as used by both official clients for key routing.
const (
	fnvOffset64 = 0xcbf29ce484222325
	fnvPrime64  = 0x100000001b3
)

// fnv1a64 hashes the UTF-8 bytes of s with FNV-1a 64 (no allocation).
func fnv1a64(s string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// keyPartition returns the partition of a routing key among n partitions:
// FNV-1a-64(key) mod n, for parity with the Rust and Go clients.
func keyPartition(key string, n int) int {
	return int(fnv1a64(key) % uint64(n))
}

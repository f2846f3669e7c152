// Package batch accumulates records into batches bounded by count and bytes.
//
// A Batcher holds no timer and starts no goroutine: the runtime's worker
// loop owns the time bound (it arms a timer when the first record of a
// batch arrives and flushes when it fires), so batching stays event driven.
package batch

// Batcher accumulates items until a count or byte bound is reached. The zero
// value is not usable; create one with New. Not safe for concurrent use: it
// belongs to one worker.
type Batcher[T any] struct {
	maxItems int
	maxBytes int
	items    []T
	bytes    int
}

// New returns a batcher flushing at maxItems items (at least 1) or maxBytes
// bytes (≤ 0: no byte bound).
func New[T any](maxItems, maxBytes int) *Batcher[T] {
	maxItems = max(maxItems, 1)
	return &Batcher[T]{maxItems: maxItems, maxBytes: maxBytes, items: make([]T, 0, maxItems)}
}

// Len returns the number of items held.
func (b *Batcher[T]) Len() int { return len(b.items) }

// Bytes returns the byte size of the items held.
func (b *Batcher[T]) Bytes() int { return b.bytes }

// Fits reports whether an item of size bytes can join the current batch
// without exceeding the byte bound. An empty batch accepts any item, so an
// item larger than the bound travels alone.
func (b *Batcher[T]) Fits(size int) bool {
	return len(b.items) == 0 || b.maxBytes <= 0 || b.bytes+size <= b.maxBytes
}

// Add appends an item of size bytes and reports whether the batch is now
// full (count or byte bound reached) and must be flushed. Callers check Fits
// first and flush when it reports false.
func (b *Batcher[T]) Add(item T, size int) (full bool) {
	b.items = append(b.items, item)
	b.bytes += size
	return len(b.items) >= b.maxItems || (b.maxBytes > 0 && b.bytes >= b.maxBytes)
}

// Full reports whether the batch has reached a bound.
func (b *Batcher[T]) Full() bool {
	return len(b.items) >= b.maxItems || (b.maxBytes > 0 && b.bytes >= b.maxBytes)
}

// Take returns the current batch and starts a new one. The returned slice is
// owned by the batcher and valid only until the next Add: the worker
// processes a batch completely before adding more, and the batcher reuses
// the backing array so that steady-state batching does not allocate.
func (b *Batcher[T]) Take() []T {
	out := b.items
	clear(b.items[len(b.items):cap(b.items)]) // drop references kept from earlier, longer batches
	b.items = b.items[:0]
	b.bytes = 0
	return out
}

package batch

import "testing"

func TestBatcher(t *testing.T) {
	type add struct {
		size     int
		wantFits bool
		wantFull bool
	}
	tests := []struct {
		name     string
		maxItems int
		maxBytes int
		adds     []add
	}{
		{"count bound", 3, 0, []add{{10, true, false}, {10, true, false}, {10, true, true}}},
		{"byte bound reached exactly", 10, 100, []add{{50, true, false}, {50, true, true}}},
		{"byte bound would overflow", 10, 100, []add{{60, true, false}, {50, false, false}}},
		{"oversized item travels alone", 10, 100, []add{{500, true, true}}},
		{"max items below one means one", 0, 0, []add{{1, true, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New[int](tt.maxItems, tt.maxBytes)
			for i, a := range tt.adds {
				if got := b.Fits(a.size); got != a.wantFits {
					t.Fatalf("add %d: Fits = %v, want %v", i, got, a.wantFits)
				}
				if !a.wantFits {
					return
				}
				if got := b.Add(i, a.size); got != a.wantFull {
					t.Fatalf("add %d: full = %v, want %v", i, got, a.wantFull)
				}
				if b.Full() != a.wantFull {
					t.Fatalf("add %d: Full() disagrees with Add", i)
				}
			}
		})
	}
}

func TestTakeResets(t *testing.T) {
	b := New[*int](4, 0)
	x, y := 1, 2
	b.Add(&x, 1)
	b.Add(&y, 1)
	got := b.Take()
	if len(got) != 2 || *got[0] != 1 || *got[1] != 2 {
		t.Fatalf("Take = %v", got)
	}
	if b.Len() != 0 || b.Bytes() != 0 {
		t.Fatalf("after Take: len %d bytes %d", b.Len(), b.Bytes())
	}
	b.Add(&y, 1)
	b.Take()
	if b.items[:2][1] != nil {
		t.Fatal("Take keeps a reference beyond the current batch")
	}
}

func TestTakeDoesNotAllocate(t *testing.T) {
	b := New[int](8, 0)
	allocs := testing.AllocsPerRun(100, func() {
		for i := range 8 {
			b.Add(i, 1)
		}
		_ = b.Take()
	})
	if allocs != 0 {
		t.Fatalf("steady-state batching allocates %v times per batch", allocs)
	}
}

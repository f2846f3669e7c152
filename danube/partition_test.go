package danube

import "testing"

func TestSplitPartition(t *testing.T) {
	tests := []struct {
		in      string
		logical string
		part    int
	}{
		{"/default/orders", "/default/orders", -1},
		{"/default/orders-part-0", "/default/orders", 0},
		{"/default/orders-part-12", "/default/orders", 12},
		{"/default/a-part-b-part-3", "/default/a-part-b", 3},
		{"/default/orders-part-", "/default/orders-part-", -1},
		{"/default/orders-part-x1", "/default/orders-part-x1", -1},
		{"/default/orders-part-1234567890", "/default/orders-part-1234567890", -1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			l, p := SplitPartition(tt.in)
			if l != tt.logical || p != tt.part {
				t.Fatalf("SplitPartition(%q) = %q, %d; want %q, %d", tt.in, l, p, tt.logical, tt.part)
			}
		})
	}
}

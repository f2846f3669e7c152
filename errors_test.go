package connect_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/danube-connect/connect"
)

func TestClassOf(t *testing.T) {
	be := (&connect.BatchError{}).Add(0, connect.InvalidData(io.EOF)).Add(2, io.ErrUnexpectedEOF)
	tests := []struct {
		name string
		err  error
		want connect.Class
	}{
		{"nil", nil, connect.ClassNone},
		{"unclassified", io.EOF, connect.ClassRetryable},
		{"retryable", connect.Retryable(io.EOF), connect.ClassRetryable},
		{"invalid data", connect.InvalidData(io.EOF), connect.ClassInvalidData},
		{"fatal", connect.Fatal(io.EOF), connect.ClassFatal},
		{"configuration", connect.Configuration(io.EOF), connect.ClassConfiguration},
		{"wrapped", fmt.Errorf("write row: %w", connect.Fatal(io.EOF)), connect.ClassFatal},
		{"outermost wins", connect.InvalidData(connect.Retryable(io.EOF)), connect.ClassInvalidData},
		{"joined", errors.Join(io.EOF, connect.Fatal(io.EOF)), connect.ClassFatal},
		{"cancelled", context.Canceled, connect.ClassRetryable},
		{"batch: most severe", be, connect.ClassInvalidData},
		{"empty batch error", &connect.BatchError{}, connect.ClassRetryable},
		{"nil cause", connect.Fatal(nil), connect.ClassFatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connect.ClassOf(tt.err); got != tt.want {
				t.Fatalf("ClassOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorUnwrapAndAs(t *testing.T) {
	err := fmt.Errorf("insert: %w", connect.InvalidData(io.ErrUnexpectedEOF))
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Class != connect.ClassInvalidData {
		t.Fatalf("errors.As = %v", ce)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal("cause lost")
	}
	if got, want := ce.Error(), "invalid_data: unexpected EOF"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"cancelled", context.Canceled, 0},
		{"wrapped cancelled", fmt.Errorf("run: %w", context.Canceled), 0},
		{"configuration", connect.Configuration(io.EOF), 2},
		{"wrapped configuration", fmt.Errorf("new runtime: %w", connect.Configuration(io.EOF)), 2},
		{"fatal", connect.Fatal(io.EOF), 1},
		{"unclassified", io.EOF, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connect.ExitCode(tt.err); got != tt.want {
				t.Fatalf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[connect.Class]string{
		connect.ClassNone: "none", connect.ClassRetryable: "retryable", connect.ClassInvalidData: "invalid_data",
		connect.ClassFatal: "fatal", connect.ClassConfiguration: "configuration",
	} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), want)
		}
	}
}

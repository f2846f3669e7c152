package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // usage or configuration error
)

// cli is the process environment the commands use; tests supply their own.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	env    []string
	hup    <-chan os.Signal // SIGHUP: reload every connector (nil: none)

	// started, when set, is called by run once every connector runs, with
	// the HTTP address of the endpoints ("" when disabled).
	started func(httpAddr string)
}

func (c *cli) getenv(name string) string {
	for i := len(c.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(c.env[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}

// usageError marks command-line mistakes (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode maps an error to the process exit code: 2 for usage and
// configuration errors, 1 for every other failure.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ce *config.Error
	if errors.As(err, &ue) || errors.As(err, &ce) || connect.ClassOf(err) == connect.ClassConfiguration {
		return exitUsage
	}
	return exitFailure
}

// isCancellation reports an error caused by a cancelled context, locally
// or as the gRPC status a cancelled call ends with.
func isCancellation(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Canceled
}

// execute runs the command line args and returns the exit code. An
// interrupt (ctx cancelled) that ends a command is a requested stop: exit
// 0 and no error line. Every error line goes with a non-zero exit code.
func execute(ctx context.Context, args []string, c *cli) int {
	root := newRootCmd(c)
	root.SetArgs(args)
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil && isCancellation(err) {
		fmt.Fprintln(c.stderr, "interrupted")
		return exitOK
	}
	if err != nil && strings.HasPrefix(err.Error(), "unknown command ") {
		err = usageError{err}
	}
	if err != nil {
		fmt.Fprintln(c.stderr, "Error:", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(c.stderr, "Run with --help for usage.")
		}
	}
	return exitCode(err)
}

func newRootCmd(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "danube-connect",
		Short: "Run Danube connectors and the tools around them",
		Long: `danube-connect runs connectors between the Danube messaging broker and
external systems, configured by TOML or YAML files, and carries the tools
around them: a development broker, produce and consume, dead-letter
inspection and redrive, source offsets and the configuration reference.

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.`,
		Example: `  # The quickstart: an in-process broker, a generator and a file sink; exits by itself
  danube-connect run --devbroker -c examples/quickstart/generator.toml -c examples/quickstart/file-sink.toml

  # Check a configuration file, then print the effective configuration
  danube-connect validate -c connector.toml --print`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newRunCmd(c),
		newValidateCmd(c),
		newDocsCmd(c),
		newDevbrokerCmd(c),
		newProduceCmd(c),
		newConsumeCmd(c),
		newDLQCmd(c),
		newOffsetsCmd(c),
		newTokenCmd(c),
		newVersionCmd(c),
		newChaosCmd(c),
		newBenchCmd(c),
	)
	return root
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func newVersionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, goV := "devel", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				goV = bi.GoVersion
				if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
					v = bi.Main.Version
				}
			}
			_, err := fmt.Fprintf(c.stdout, "danube-connect %s %s\n", v, goV)
			return err
		},
	}
}

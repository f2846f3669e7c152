// Command danube-connect runs Danube connectors from configuration files
// and carries the tools around them: a development broker, produce and
// consume, dead-letter inspection and redrive, offset management and the
// configuration reference. Run "danube-connect --help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := execute(ctx, os.Args[1:], &cli{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		env:    os.Environ(),
		hup:    hup,
	})
	signal.Stop(hup)
	stop()
	os.Exit(code)
}

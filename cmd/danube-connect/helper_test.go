package main

import (
	"os"
	"testing"
)

// envAsCLI makes the test binary behave as danube-connect, so that the
// commands starting child processes of their own binary (chaos, bench) can
// be tested: the children are this binary with the variable set.
const envAsCLI = "DANUBE_CONNECT_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(envAsCLI) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// cliEnv is the environment of a command whose children must run as the CLI.
func cliEnv() []string { return append(os.Environ(), envAsCLI+"=1") }

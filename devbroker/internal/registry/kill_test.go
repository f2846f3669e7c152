package registry

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

const killChildEnv = "REGISTRY_KILL_CHILD_DIR"

// TestKillChild is the child half of TestSurvivesKill: it registers schemas in the directory
// named by the environment, reports each acknowledged one on stdout, and waits to be killed.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("child process of TestSurvivesKill only")
	}
	reg, err := Open(dir, nil)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	for i := range 20 {
		resp, err := reg.register(&schemapb.RegisterSchemaRequest{Subject: fmt.Sprintf("s%d", i), SchemaType: "json_schema",
			SchemaDefinition: []byte(userJSON)})
		if err != nil {
			fmt.Println("error", err)
			return
		}
		fmt.Println("ack", resp.SchemaId)
	}
	fmt.Println("done")
	_, _ = io.Copy(io.Discard, os.Stdin) // blocks until the parent kills us
}

// TestSurvivesKill kills a process with SIGKILL right after its registrations were acknowledged
// and checks that a fresh registry on the same directory has every one of them.
func TestSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe() // held open so the child blocks until killed
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ack ") {
			acked++
		}
		if line == "done" || strings.HasPrefix(line, "error") {
			if line != "done" {
				t.Errorf("child: %s", line)
			}
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited on its own instead of being killed")
	}
	if acked != 20 {
		t.Fatalf("child acknowledged %d registrations", acked)
	}
	reg, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if id, ok := reg.SubjectID(fmt.Sprintf("s%d", i)); !ok || id != uint64(i+1) {
			t.Fatalf("subject s%d after kill: id %d, present %v", i, id, ok)
		}
	}
}

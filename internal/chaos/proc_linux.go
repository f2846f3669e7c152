package chaos

import "syscall"

// sysProcAttr makes a child die with the harness, so that no broker or
// connector is left behind when the harness itself is killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has cmd's process killed when the launcher dies, however
// it dies, and keeps it out of the terminal's process group, so that
// Ctrl-C reaches only the launcher and the nodes, which stop before it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

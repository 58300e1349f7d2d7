//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing here: the launcher stops redis-server itself
// when it ends, but not if it is killed.
func dieWithParent(*exec.Cmd) {}

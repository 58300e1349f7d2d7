//go:build unix

package browsertest

import (
	"errors"
	"os"
	"syscall"
)

// lockFile waits for an exclusive lock on f, which its closing releases.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

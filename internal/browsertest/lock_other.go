//go:build !unix

package browsertest

import "os"

// lockFile does nothing where there is no flock: browser tests of several
// packages may then run at the same time.
func lockFile(*os.File) error { return nil }

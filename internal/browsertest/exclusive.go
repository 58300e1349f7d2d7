package browsertest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Exclusive keeps t the only browser test running on the machine until it
// ends: go test runs packages side by side, and the browser tests of two
// packages (six pages, their servers under the race detector) starve
// each other's media on a small machine. The test waits for any other
// test binary's browser test to end; browser tests of one binary share
// the hold. New and firefoxtest.New call it.
func Exclusive(t testing.TB) {
	t.Helper()
	hold.Lock()
	defer hold.Unlock()
	if hold.n == 0 {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "crossbar-browsertest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatalf("browser test lock: %v", err)
		}
		if err := lockFile(f); err != nil {
			_ = f.Close()
			t.Fatalf("browser test lock: %v", err)
		}
		hold.f = f
	}
	hold.n++
	t.Cleanup(func() {
		hold.Lock()
		defer hold.Unlock()
		if hold.n--; hold.n == 0 {
			_ = hold.f.Close() // releases the lock
			hold.f = nil
		}
	})
}

// hold is this test binary's share of the machine's browser test lock.
var hold struct {
	sync.Mutex
	n int      // the tests holding it
	f *os.File // the locked file, while n > 0
}

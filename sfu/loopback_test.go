package sfu

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// loopbackChild marks the run of TestLoopbackOnlyHost inside its network
// namespace.
const loopbackChild = "CROSSBAR_LOOPBACK_ONLY_CHILD"

// TestLoopbackOnlyHost runs an engine with the default Config on a host
// whose only interface is lo: a network namespace of its own (unshare -n,
// as root), where the test binary runs again. The engine must say that it
// serves loopback only, listen there, and carry media between two clients.
func TestLoopbackOnlyHost(t *testing.T) {
	if os.Getenv(loopbackChild) == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root for a network namespace of its own")
		}
		for _, tool := range []string{"unshare", "ip"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("needs %s: %v", tool, err)
			}
		}
		cmd := exec.Command("unshare", "--net", "sh", "-c", `ip link set lo up && exec "$0" -test.run '^TestLoopbackOnlyHost$' -test.v`, os.Args[0])
		cmd.Env = append(os.Environ(), loopbackChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestLoopbackOnlyHost") {
			t.Fatalf("in a namespace with only lo: %v\n%s", err, out)
		}
		return
	}

	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifaces) != 1 || ifaces[0].Flags&net.FlagLoopback == 0 {
		t.Fatalf("interfaces %v, want lo alone", ifaces)
	}
	var warned atomic.Bool
	logs := writerFunc(func(line []byte) {
		warned.Store(warned.Load() || bytes.Contains(line, []byte("level=WARN")) && bytes.Contains(line, []byte("no network interface but loopback")))
	})
	e, err := New(Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if !warned.Load() {
		t.Error("no warning about serving loopback only")
	}
	addrs := e.LocalAddrs()
	if len(addrs) == 0 {
		t.Fatal("no media socket")
	}
	for _, a := range addrs {
		if !a.(*net.UDPAddr).IP.IsLoopback() {
			t.Errorf("media socket on %v, not loopback", a)
		}
	}

	alice := newTestClient(t, e, "alice", clientOptions{})
	bob := newTestClient(t, e, "bob", clientOptions{})
	audio, video := alice.publish()
	bob.subscribe(audio, "s-alice", "audio")
	bob.subscribe(video, "s-alice", "video")
	waitReceiving(t, bob, []string{"s-alice/audio", "s-alice/video"}, 50)
}

func TestEveryInterface(t *testing.T) {
	for addr, want := range map[string]bool{
		"": true, ":50000": true, "0.0.0.0:0": true, "[::]:50000": true,
		"127.0.0.1:0": false, "192.0.2.1:50000": false, "localhost:0": false, "no port": false,
	} {
		if got := (Config{UDPAddr: addr}).everyInterface(); got != want {
			t.Errorf("UDPAddr %q: every interface %v, want %v", addr, got, want)
		}
	}
}

// writerFunc is an io.Writer that shows each write to a function.
type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) {
	f(p)
	return len(p), nil
}

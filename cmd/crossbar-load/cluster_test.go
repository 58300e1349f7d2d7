//go:build linux

package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestClusterRun runs a tiny scenario on two nodes: the subscriber on n2
// gets the stream over the node link, and the cluster figures are there.
func TestClusterRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and two host apps")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	// The host apps are this test binary re-run with -serve: TestMain
	// serves when it sees the flag.
	cfg := config{warmup: time.Second, window: 2 * time.Second, bitrate: 500_000, fps: 15}
	res := runScenario(cfg, scenario{Name: "1x2", Publishers: 1, Subscribers: 2}, 2)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	if res.Nodes != 2 || len(res.NodeStats) != 2 {
		t.Fatalf("nodes %d, node stats %d, want 2 and 2", res.Nodes, len(res.NodeStats))
	}
	n2 := res.NodeStats[1]
	if n2.Subscribers != 1 || n2.RelayedPerSec == 0 || n2.ForwardedPerSec == 0 {
		t.Errorf("n2: %+v, want one subscriber forwarded packets relayed from n1", n2)
	}
	if res.CrossJoinP50MS == 0 || res.RedisPerJoin <= 0 || res.RedisPerSignal <= 0 || res.SignalEventsPerSec == 0 {
		t.Errorf("cluster figures missing: %+v", res)
	}
}

// TestMain runs the host app when the test binary is re-run as one.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		main()
		return
	}
	os.Exit(m.Run())
}

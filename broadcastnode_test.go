package crossbar_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

// A broadcast run by node 1 of two, on a real Redis, is got from node 2 as
// it is now (its refused RTMP output's error, which no change of status
// recorded), listed there, refuses a second broadcast started there, and
// has its layout changed and is stopped from node 2: node 1 does it.
func TestClusterBroadcast(t *testing.T) {
	mediatest.Need(t)
	_, nodes := newCluster(t, 2, crossbar.Config{})
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	s := a.session()
	publishColour(t, a.mediaClient(s, a.ws, "red", nil, client.Options{}), "red", 320, 240)
	started, err := a.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{
		RTMP: []crossbar.RTMPOutput{{ServerURL: refusingRTMP(t), StreamName: "s"}},
		HLS:  &crossbar.HLSOptions{},
	}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "node 2 to see the RTMP output's error", func() bool {
		got, err := b.srv.Broadcast(ctx, started.ID)
		return err == nil && got.Status == crossbar.BroadcastStarted && got.SessionID == s.ID() && got.RTMP[0].Status == crossbar.RTMPError
	})
	if list, total, err := b.srv.Broadcasts(ctx, crossbar.BroadcastListOptions{SessionID: s.ID()}); err != nil || total != 1 || list[0].ID != started.ID {
		t.Fatalf("node 2 lists %+v (%d in all), %v", list, total, err)
	}
	if _, err := b.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{HLS: &crossbar.HLSOptions{}}}); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Errorf("a second broadcast started on node 2: %v, want ErrBroadcastConflict", err)
	}
	if err := b.srv.SetBroadcastLayout(ctx, started.ID, crossbar.ArchiveLayout{Type: "pip"}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.srv.Broadcast(ctx, started.ID); err != nil || got.Layout.Type != "pip" {
		t.Errorf("on node 1 after node 2 changed its layout: %+v, %v", got.Layout, err)
	}
	if err := b.srv.AddBroadcastStream(ctx, started.ID, crossbar.ArchiveStream{StreamID: s.Streams()[0].ID(), HasVideo: true}); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Errorf("adding a stream from node 2 to an auto-mode broadcast: %v, want ErrBroadcastConflict", err)
	}

	stopped, err := b.srv.StopBroadcast(ctx, started.ID)
	if err != nil || stopped.Status != crossbar.BroadcastStopped {
		t.Fatalf("node 2 stopped it: %+v, %v", stopped, err)
	}
	if got, err := a.srv.Broadcast(ctx, started.ID); err != nil || got.Status != crossbar.BroadcastStopped {
		t.Fatalf("on node 1 after the stop: %+v, %v", got, err)
	}
	waitFor(t, 10*time.Second, "node 2 to see it stopped", func() bool {
		got, err := b.srv.Broadcast(ctx, started.ID)
		return err == nil && got.Status == crossbar.BroadcastStopped
	})
	if _, err := b.srv.StopBroadcast(ctx, started.ID); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Errorf("stopping it again from node 2: %v, want ErrBroadcastConflict", err)
	}
	if _, err := b.srv.Broadcast(ctx, "nope"); !errors.Is(err, crossbar.ErrBroadcastNotFound) {
		t.Errorf("an unknown broadcast: %v", err)
	}
	again, err := b.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{HLS: &crossbar.HLSOptions{}}})
	if err != nil || again.Status != crossbar.BroadcastStarted {
		t.Fatalf("a broadcast started on node 2 once node 1's stopped: %+v, %v", again, err)
	}
	waitFor(t, 10*time.Second, "node 1 to list node 2's broadcast first", func() bool {
		list, total, err := a.srv.Broadcasts(ctx, crossbar.BroadcastListOptions{SessionID: s.ID()})
		return err == nil && total == 2 && list[0].ID == again.ID && list[1].ID == started.ID
	})
}

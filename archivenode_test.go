package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// An archive recorded on node 1 of two, on a real Redis, is got and listed
// from node 2, refuses a second archive started there, and is stopped and
// deleted from node 2: node 1 does it.
func TestClusterArchive(t *testing.T) {
	dir := archive.Dir(t.TempDir())
	_, nodes := newCluster(t, 2, crossbar.Config{Archives: dir})
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	s := a.session()
	pub, _ := publishTagged(t, a.mediaClient(s, a.ws, "pub", nil, client.Options{}), "pub")
	started, err := a.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{Name: "across"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "node 2 to see the archive record", func() bool {
		got, err := b.srv.Archive(ctx, started.ID)
		return err == nil && got.Status == crossbar.ArchiveStarted && got.Name == "across" && got.SessionID == s.ID()
	})
	if list, total, err := b.srv.Archives(ctx, crossbar.ArchiveListOptions{SessionID: s.ID()}); err != nil || total != 1 || list[0].ID != started.ID {
		t.Fatalf("node 2 lists %+v (%d in all), %v", list, total, err)
	}
	if _, err := b.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{}); !errors.Is(err, crossbar.ErrArchiveConflict) {
		t.Errorf("a second archive started on node 2: %v, want ErrArchiveConflict", err)
	}
	recordFor(t, a.srv, started.ID, 2*time.Second)

	stopped, err := b.srv.StopArchive(ctx, started.ID)
	if err != nil || stopped.Status != crossbar.ArchiveStopped || stopped.Duration < 2*time.Second {
		t.Fatalf("node 2 stopped it: %+v, %v", stopped, err)
	}
	if got, err := a.srv.Archive(ctx, started.ID); err != nil || got.Status != crossbar.ArchiveAvailable {
		t.Fatalf("on node 1 after the stop: %+v, %v", got, err)
	}
	waitFor(t, 10*time.Second, "node 2 to see it available", func() bool {
		got, err := b.srv.Archive(ctx, started.ID)
		return err == nil && got.Status == crossbar.ArchiveAvailable && got.Size > 0
	})
	if _, err := b.srv.StopArchive(ctx, started.ID); !errors.Is(err, crossbar.ErrArchiveConflict) {
		t.Errorf("stopping it again from node 2: %v, want ErrArchiveConflict", err)
	}
	m := manifest(t, dir, started.ID)
	if len(m.Files) != 1 || m.Files[0].StreamID != pub.StreamID() {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	checkFlowed(t, dir, started.ID, m.Files[0])

	if err := b.srv.DeleteArchive(ctx, started.ID); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		if _, err := n.srv.Archive(ctx, started.ID); !errors.Is(err, crossbar.ErrArchiveNotFound) {
			t.Errorf("node %d after the delete: %v", i+1, err)
		}
	}
	if _, err := os.Stat(dir.Path(started.ID, m.Files[0].Filename)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted archive's file: %v", err)
	}
	if _, err := b.srv.StopArchive(ctx, "nope"); !errors.Is(err, crossbar.ErrArchiveNotFound) {
		t.Errorf("stopping an unknown archive: %v", err)
	}
}

// A session in archive mode always whose first streams are published on
// two nodes at once gets one archive, which records both.
func TestClusterArchiveModeAlways(t *testing.T) {
	dir := archive.Dir(t.TempDir())
	_, nodes := newCluster(t, 2, crossbar.Config{Archives: dir})
	ctx := context.Background()
	s, err := nodes[0].srv.CreateSession(ctx, crossbar.SessionOptions{ArchiveMode: crossbar.ArchiveModeAlways})
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]*client.Session, 2)
	for i, n := range nodes {
		clients[i] = n.mediaClient(s, n.ws, "pub", nil, client.Options{})
	}
	published := make(chan *client.Publisher, 2)
	for i, c := range clients {
		go func() {
			pub, err := c.Publish(ctx, client.PublishOptions{Name: "pub", Audio: true, Video: true, Width: 320, Height: 240})
			if err != nil {
				t.Errorf("publish on node %d: %v", i+1, err)
			}
			published <- pub
		}()
	}
	var pubs []*client.Publisher
	for range clients {
		if pub := <-published; pub != nil {
			pubs = append(pubs, pub)
			synthCtx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- pub.Synthesize(synthCtx, client.SynthOptions{FrameRate: archiveFPS, Width: 320, Height: 240})
			}()
			t.Cleanup(func() { cancel(); <-done })
		}
	}
	if len(pubs) != 2 {
		t.FailNow()
	}
	var list []crossbar.Archive
	waitFor(t, 10*time.Second, "an archive of the session", func() bool {
		list, _, err = nodes[1].srv.Archives(ctx, crossbar.ArchiveListOptions{SessionID: s.ID()})
		return err == nil && len(list) > 0
	})
	recordFor(t, nodes[1].srv, list[0].ID, 3*time.Second)
	stopped, err := nodes[1].srv.StopArchive(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if list, total, err := nodes[0].srv.Archives(ctx, crossbar.ArchiveListOptions{SessionID: s.ID()}); err != nil || total != 1 {
		t.Fatalf("the session has %d archives, want 1: %+v, %v", total, list, err)
	}
	m := manifest(t, dir, stopped.ID)
	files := map[string]bool{}
	for _, f := range m.Files {
		files[f.StreamID] = true
		checkFlowed(t, dir, stopped.ID, f)
	}
	for i, pub := range pubs {
		if !files[pub.StreamID()] {
			t.Errorf("the archive has no file of the stream published on node %d: %+v", i+1, m.Files)
		}
	}
}

// The clients of node 2 hear of an archive node 1 records as node 1's
// clients do: archiveStarted and archiveStopped, with its id and name, and
// on joining while it records; node 2's host is told too. A client
// joining after it stopped hears nothing of it. An archive whose node
// dies ends, for the clients of the others.
func TestClusterArchiveEvents(t *testing.T) {
	_, nodes := newCluster(t, 2, crossbar.Config{Archives: archive.Dir(t.TempDir())})
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	s := a.session()
	watcher := b.connect(s, crossbar.RoleSubscriber, "watcher")
	publishTagged(t, a.mediaClient(s, a.ws, "pub", nil, client.Options{}), "pub")
	onB := b.on(t, s)
	told := make(chan crossbar.Archive, 2)
	onB.OnArchiveStarted(func(x crossbar.Archive) { told <- x })
	onB.OnArchiveStopped(func(x crossbar.Archive) { told <- x })

	started, err := a.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{Name: "across"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(who string, ev client.Event, id string) {
		t.Helper()
		if ev.Archive == nil || ev.Archive.ID != id {
			t.Fatalf("%s: %s of %+v, want archive %s", who, ev.Type, ev.Archive, id)
		}
	}
	ev := next(t, watcher, signaling.TypeArchiveStarted)
	check("node 2's watcher", ev, started.ID)
	if ev.Archive.Name != "across" {
		t.Errorf("archiveStarted names %q, want across", ev.Archive.Name)
	}
	check("a client joining node 2", next(t, b.connect(s, crossbar.RoleSubscriber, "late"), signaling.TypeArchiveStarted), started.ID)
	if x := <-told; x.ID != started.ID || x.Status != crossbar.ArchiveStarted {
		t.Errorf("node 2's host was told %+v", x)
	}

	recordFor(t, a.srv, started.ID, time.Second)
	if _, err := a.srv.StopArchive(ctx, started.ID); err != nil {
		t.Fatal(err)
	}
	check("node 2's watcher", next(t, watcher, signaling.TypeArchiveStopped), started.ID)
	if x := <-told; x.ID != started.ID || x.Status != crossbar.ArchiveStopped {
		t.Errorf("node 2's host was told %+v", x)
	}
	after := b.connect(s, crossbar.RoleSubscriber, "after")
	if err := onB.Signal(crossbar.SignalOptions{To: after.Connection().ID, Type: "mark"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, after, signaling.TypeArchiveStarted, signaling.TypeSignal); ev.Type != signaling.TypeSignal {
		t.Fatalf("a client joining node 2 after the stop was told %s %+v", ev.Type, ev.Archive)
	}

	// Node 2 records; it dies.
	onA := a.on(t, s)
	watcherA := a.connect(s, crossbar.RoleSubscriber, "watcher on node 1")
	second, err := b.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{Name: "on node 2"})
	if err != nil {
		t.Fatal(err)
	}
	check("node 1's watcher", next(t, watcherA, signaling.TypeArchiveStarted), second.ID)
	ended := make(chan crossbar.Archive, 1)
	onA.OnArchiveStopped(func(x crossbar.Archive) { ended <- x })
	_ = b.rdb.Close() // node 2 can no longer beat
	check("node 1's watcher", nextWithin(t, watcherA, 15*time.Second, signaling.TypeArchiveStopped), second.ID)
	if x := <-ended; x.Status != crossbar.ArchiveFailed || x.Reason == "" {
		t.Errorf("node 1's host was told %+v, want it failed with a reason", x)
	}
}

// A Chromium page on node 2 hears of an archive node 1 records, as
// opentok.js's pages do: archiveStarted and archiveStopped, with its id
// and name, and archiveStarted as it joins while it records.
func TestJSClusterArchiveEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	rigs := clusterRigs(t, 2)
	s := rigs[0].session()
	r := rigs[1]
	watcher := joinWatchingArchives(t, r, nodeSession(t, r.srv, s), "watcher")
	watcher.Wait("connected", `S.connection !== undefined && S.connection !== null`, mediaWait)
	ctx := context.Background()
	a, err := rigs[0].srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{Name: "across"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rigs[0].srv.DeleteArchive(ctx, a.ID) }) // from the default directory
	started := fmt.Sprintf(`archives.includes('archiveStarted %s across')`, a.ID)
	watcher.Wait("archiveStarted", started, mediaWait)
	joinWatchingArchives(t, r, s, "late").Wait("archiveStarted on joining", started, mediaWait)
	if _, err := rigs[0].srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	watcher.Wait("archiveStopped", fmt.Sprintf(`archives.includes('archiveStopped %s across')`, a.ID), mediaWait)
}

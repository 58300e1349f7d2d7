package crossbar_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/interceptor"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest/netem"
)

// An archive of a publisher whose link loses 5 % of its packets (on the
// way out, retransmissions too) is whole: its file decodes and holds at
// least 90 % of the frames sent while it recorded, each in order and in
// time (checkMarks). A packet lost for good costs the frames up to the
// next keyframe, which the archive asks for at once.
func TestArchiveLossyPublisher(t *testing.T) {
	h, dir := archiveHarness(t, crossbar.Config{})
	s := h.session()
	network := &netem.Shaper{}
	network.Set(netem.Conditions{Loss: 0.05})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, h.ws, h.token(s, crossbar.RolePublisher, "lossy"),
		&client.Options{Media: client.MediaOptions{LoopbackOnly: true, Interceptors: []interceptor.Factory{network}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Disconnect()
		network.Wait()
	})
	pub, _ := publishTagged(t, c, "lossy")
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recordFor(t, h.srv, a.ID, 6*time.Second)
	if _, err := h.srv.StopArchive(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stream(pub.StreamID())
	if err != nil {
		t.Fatal(err)
	}
	stats := st.Publisher().Stats().Video
	t.Logf("the server received %d video packets, asked for %d again, lost %d", stats.PacketsIn, stats.NACKsSent, stats.PacketsLost)
	if stats.NACKsSent == 0 {
		t.Fatal("the server asked for no packet again: nothing was lost")
	}
	m := manifest(t, dir, a.ID)
	if len(m.Files) != 1 || m.Files[0].StreamID != pub.StreamID() {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	// Its frames are counted against those the publisher sent, whose
	// synthesizer sends fewer than archiveFPS on a busy machine.
	path := dir.Path(a.ID, m.Files[0].Filename)
	frames, d := probeWebM(t, path)
	t.Logf("%d video frames in %.2f s", frames, d)
	checkMarks(t, path, "lossy")
}

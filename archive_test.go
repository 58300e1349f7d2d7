package crossbar_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// archiveFPS is the frame rate of the archive tests' publishers.
const archiveFPS = 30

// archiveHarness is a harness whose archives go to a directory of the
// test's.
func archiveHarness(t *testing.T, cfg crossbar.Config) (*harness, archive.Dir) {
	dir := archive.Dir(t.TempDir())
	cfg.Archives = dir
	return newHarness(t, cfg), dir
}

// publishTagged publishes synthetic audio and video from c, its frames
// marked with tag, until stop is called or the test ends.
func publishTagged(t *testing.T, c *client.Session, tag string) (pub *client.Publisher, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := c.Publish(ctx, client.PublishOptions{Name: tag, Audio: true, Video: true, Width: 320, Height: 240})
	if err != nil {
		t.Fatalf("publish %s: %v", tag, err)
	}
	synthCtx, cancelSynth := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pub.Synthesize(synthCtx, client.SynthOptions{Tag: tag, FrameRate: archiveFPS, Width: 320, Height: 240})
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancelSynth()
			<-done
			_ = pub.Unpublish(context.Background())
		}
	}
	t.Cleanup(stop)
	if _, err := pub.WaitCreated(ctx); err != nil { // once media came
		t.Fatal(err)
	}
	return pub, stop
}

// recordFor waits until the archive has recorded for d.
func recordFor(t *testing.T, srv *crossbar.Server, id string, d time.Duration) {
	t.Helper()
	waitFor(t, d+10*time.Second, "the archive to record for "+d.String(), func() bool {
		a, err := srv.Archive(context.Background(), id)
		return err == nil && a.Status == crossbar.ArchiveStarted && a.Duration >= d
	})
}

// manifest reads an archive's manifest.
func manifest(t *testing.T, dir archive.Dir, id string) archive.Manifest {
	t.Helper()
	b, err := os.ReadFile(dir.Path(id, archive.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m archive.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, b)
	}
	return m
}

// checkFile checks one stream's file of an archive with ffprobe (its
// codecs, its duration within 0.5 s of the manifest's offsets, at least
// 90 % of the frames at fps) and, for a Go publisher's stream (tag set),
// reads its synthetic frames' marks: they are tag's, numbered in order,
// and each one's timestamp is within 100 ms of where its number puts it.
func checkFile(t *testing.T, dir archive.Dir, id string, f archive.File, fps float64, tag string) {
	t.Helper()
	path := dir.Path(id, f.Filename)
	frames, duration := probeWebM(t, path)
	want := time.Duration(f.StopTimeOffset-f.StartTimeOffset) * time.Millisecond
	if d := time.Duration(duration * float64(time.Second)); d < want-500*time.Millisecond || d > want+500*time.Millisecond {
		t.Errorf("%s lasts %v, want %v ± 0.5 s (from the manifest)", f.Filename, d, want)
	}
	t.Logf("%s: %d video frames in %.2f s", f.Filename, frames, duration)
	if min := int(want.Seconds() * fps * 0.9); frames < min {
		t.Errorf("%s has %d video frames, want at least %d (90 %% of %v at %.1f fps)", f.Filename, frames, min, want, fps)
	}
	if tag != "" {
		checkMarks(t, path, tag)
	}
}

// checkFlowed checks that a file of an archive holds the stream's media:
// Opus, and VP8 frames for at least half the time it was recorded at the
// Go publishers' rate. (On a busy machine their synthesizer sends fewer,
// its clock behind: tests of what is not the recording itself use it;
// checkFile holds archives to 90 %.)
func checkFlowed(t *testing.T, dir archive.Dir, id string, f archive.File) {
	t.Helper()
	frames, _ := probeWebM(t, dir.Path(id, f.Filename))
	recorded := time.Duration(f.StopTimeOffset-f.StartTimeOffset) * time.Millisecond
	t.Logf("%s: %d video frames in %v", f.Filename, frames, recorded)
	if min := int(recorded.Seconds() * archiveFPS / 2); frames < min {
		t.Errorf("%s has %d video frames, want at least %d (half of %v at %d fps)", f.Filename, frames, min, recorded, archiveFPS)
	}
}

// probeWebM reads an archive's file with ffprobe: it must hold Opus and
// VP8; it returns how many video frames ffprobe decoded, and the file's
// duration in seconds.
func probeWebM(t *testing.T, path string) (frames int, duration float64) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not installed (apt-get install ffmpeg): cannot check the archive's files")
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_name,nb_read_frames:format=duration", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	lines := strings.Fields(string(out)) // opus,N  vp8,N  duration
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "opus,") || !strings.HasPrefix(lines[1], "vp8,") {
		t.Fatalf("ffprobe %s: %q, want opus and vp8 streams", path, out)
	}
	frames, _ = strconv.Atoi(strings.TrimPrefix(lines[1], "vp8,"))
	duration, _ = strconv.ParseFloat(lines[2], 64)
	return frames, duration
}

// checkMarks reads the video frames of a file and checks their marks.
func checkMarks(t *testing.T, path, tag string) {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tracks, err := mkvcore.NewSimpleBlockReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var first, last uint32
	var firstTS int64
	n := 0
	for _, tr := range tracks {
		if tr.TrackEntry().TrackType != 1 { // not video: read, or the reader stalls
			go func() {
				for _, _, _, err := tr.Read(); err == nil; _, _, _, err = tr.Read() {
				}
			}()
			continue
		}
		for {
			b, _, ts, err := tr.Read()
			if err != nil {
				break
			}
			got, num, ok := client.ReadSynthMark(b)
			if !ok || got != tag {
				t.Fatalf("frame %d of %s has mark %q %v, want %q", n, path, got, ok, tag)
			}
			if n == 0 {
				first, firstTS = num, ts
			} else if num <= last {
				t.Fatalf("frame %d follows frame %d", num, last)
			}
			at := time.Duration(num-first) * time.Second / archiveFPS
			if d := time.Duration(ts-firstTS)*time.Millisecond - at; d < -100*time.Millisecond || d > 100*time.Millisecond {
				t.Fatalf("frame %d is at %v, want %v ± 100 ms", num, time.Duration(ts-firstTS)*time.Millisecond, at)
			}
			last = num
			n++
		}
	}
	if n == 0 || float64(n) < 0.9*float64(last-first+1) {
		t.Fatalf("%s has %d of frames %d to %d", path, n, first, last)
	}
}

// An individual archive of a Go publisher: each stream's file holds its
// audio and video, whole and in time, and the clients hear of the
// archive, those who join later too.
func TestIndividualArchive(t *testing.T) {
	h, dir := archiveHarness(t, crossbar.Config{})
	s := h.session()
	watcher := h.connect(s, crossbar.RoleSubscriber, "watcher")
	pub, _ := publishTagged(t, h.mediaClient(s, h.ws, "pub", nil, client.Options{}), "pub")

	ctx := context.Background()
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{Name: "interview"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != crossbar.ArchiveStarted || a.OutputMode != crossbar.OutputIndividual {
		t.Fatalf("started archive: %+v", a)
	}
	ev := next(t, watcher, signaling.TypeArchiveStarted)
	if ev.Archive.ID != a.ID || ev.Archive.Name != "interview" {
		t.Fatalf("archiveStarted: %+v", ev.Archive)
	}
	late := h.connect(s, crossbar.RoleSubscriber, "late")
	if ev := next(t, late, signaling.TypeArchiveStarted); ev.Archive.ID != a.ID {
		t.Fatalf("a client that joined got archiveStarted %+v", ev.Archive)
	}

	recordFor(t, h.srv, a.ID, 4*time.Second)
	stopped, err := h.srv.StopArchive(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.Status != crossbar.ArchiveStopped || stopped.Duration < 4*time.Second {
		t.Fatalf("stopped archive: %+v", stopped)
	}
	if ev := next(t, watcher, signaling.TypeArchiveStopped); ev.Archive.ID != a.ID {
		t.Fatalf("archiveStopped: %+v", ev.Archive)
	}
	got, err := h.srv.Archive(ctx, a.ID)
	if err != nil || got.Status != crossbar.ArchiveAvailable || got.Size == 0 {
		t.Fatalf("archive after stop: %+v, %v", got, err)
	}

	m := manifest(t, dir, a.ID)
	if len(m.Files) != 1 || m.Files[0].StreamID != pub.StreamID() || m.Files[0].ConnectionData != "pub" || m.Files[0].Filename != pub.StreamID()+".webm" {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	checkFile(t, dir, a.ID, m.Files[0], archiveFPS, "pub")
	f := m.Files[0]
	t.Logf("file size: %.2f MB a minute (Opus silence, synthetic VP8 320x240 at %d fps)",
		float64(f.Size)/float64(f.StopTimeOffset-f.StartTimeOffset)*60_000/1e6, archiveFPS)

	if err := h.srv.DeleteArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir.Path(a.ID, m.Files[0].Filename)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted archive's file: %v", err)
	}
	if _, err := h.srv.Archive(ctx, a.ID); !errors.Is(err, crossbar.ErrArchiveNotFound) {
		t.Fatalf("Archive after delete: %v", err)
	}
}

// A publisher that leaves pauses an archive in auto mode; when it comes
// back, its new stream goes to a new file, later in the archive.
func TestArchivePublisherReturns(t *testing.T) {
	h, dir := archiveHarness(t, crossbar.Config{})
	s := h.session()
	c := h.mediaClient(s, h.ws, "pub", nil, client.Options{})
	ctx := context.Background()
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != crossbar.ArchivePaused {
		t.Fatalf("an archive of a session without streams is %s, want paused", a.Status)
	}
	_, stop := publishTagged(t, c, "one")
	recordFor(t, h.srv, a.ID, 2*time.Second)
	stop()
	waitFor(t, 5*time.Second, "the archive to pause", func() bool {
		a, _ := h.srv.Archive(ctx, a.ID)
		return a.Status == crossbar.ArchivePaused
	})
	publishTagged(t, c, "two")
	recordFor(t, h.srv, a.ID, 5*time.Second)
	if _, err := h.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	m := manifest(t, dir, a.ID)
	if len(m.Files) != 2 || m.Files[1].StartTimeOffset < m.Files[0].StopTimeOffset {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	checkFile(t, dir, a.ID, m.Files[0], archiveFPS, "one")
	checkFile(t, dir, a.ID, m.Files[1], archiveFPS, "two")
}

// An archive in manual mode records the streams the host adds, until it
// removes them.
func TestArchiveManualStreams(t *testing.T) {
	h, dir := archiveHarness(t, crossbar.Config{})
	s := h.session()
	one, _ := publishTagged(t, h.mediaClient(s, h.ws, "one", nil, client.Options{}), "one")
	publishTagged(t, h.mediaClient(s, h.ws, "two", nil, client.Options{}), "two")
	ctx := context.Background()
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{StreamMode: crossbar.StreamModeManual})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.AddArchiveStream(ctx, a.ID, crossbar.ArchiveStream{StreamID: "nope", HasAudio: true}); !errors.Is(err, crossbar.ErrStreamNotFound) {
		t.Fatalf("adding an unknown stream: %v, want ErrStreamNotFound", err)
	}
	if err := h.srv.AddArchiveStream(ctx, a.ID, crossbar.ArchiveStream{StreamID: one.StreamID(), HasAudio: true, HasVideo: true}); err != nil {
		t.Fatal(err)
	}
	recordFor(t, h.srv, a.ID, 3*time.Second)
	if err := h.srv.RemoveArchiveStream(ctx, a.ID, one.StreamID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the archive to pause", func() bool {
		a, _ := h.srv.Archive(ctx, a.ID)
		return a.Status == crossbar.ArchivePaused
	})
	if _, err := h.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	m := manifest(t, dir, a.ID)
	if len(m.Files) != 1 || m.Files[0].StreamID != one.StreamID() {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	checkFile(t, dir, a.ID, m.Files[0], archiveFPS, "one")
}

// A session in archive mode always records itself from its first stream,
// and stops ArchiveIdleTimeout after the last client left.
func TestArchiveModeAlways(t *testing.T) {
	clock := crossbartest.NewClock(time.Now())
	h, dir := archiveHarness(t, crossbar.Config{Clock: clock})
	ctx := context.Background()
	s, err := h.srv.CreateSession(ctx, crossbar.SessionOptions{ArchiveMode: crossbar.ArchiveModeAlways, ArchiveName: "always"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan crossbar.Archive, 1)
	s.OnArchiveStopped(func(a crossbar.Archive) { stopped <- a })
	c := h.mediaClient(s, h.ws, "pub", nil, client.Options{})
	publishTagged(t, c, "pub")
	ev := next(t, c, signaling.TypeArchiveStarted)
	if ev.Archive.Name != "always" {
		t.Fatalf("archiveStarted: %+v", ev.Archive)
	}
	waitFor(t, 5*time.Second, "the stream's file to grow", func() bool {
		a, err := h.srv.Archive(ctx, ev.Archive.ID)
		return err == nil && a.Size > 150_000 // beyond the 64 kB kept for the seek index
	})
	c.Disconnect()
	waitFor(t, 5*time.Second, "the archive to pause", func() bool {
		a, _ := h.srv.Archive(ctx, ev.Archive.ID)
		return a.Status == crossbar.ArchivePaused
	})
	clock.Advance(crossbar.ArchiveIdleTimeout - time.Second)
	select {
	case a := <-stopped:
		t.Fatalf("the archive stopped before the idle timeout: %+v", a)
	default:
	}
	clock.Advance(time.Second)
	select {
	case a := <-stopped:
		if a.ID != ev.Archive.ID || a.Reason != "sessionIdle" {
			t.Fatalf("stopped: %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the archive did not stop after the idle timeout")
	}
	waitFor(t, 5*time.Second, "the archive to be available", func() bool {
		a, _ := h.srv.Archive(ctx, ev.Archive.ID)
		return a.Status == crossbar.ArchiveAvailable
	})
	if m := manifest(t, dir, ev.Archive.ID); len(m.Files) != 1 || m.Files[0].Size == 0 {
		t.Fatalf("manifest files: %+v", m.Files)
	}
}

// Archives refuse what OpenTok refuses, with its errors.
func TestArchiveBadInput(t *testing.T) {
	h, _ := archiveHarness(t, crossbar.Config{})
	ctx := context.Background()
	s := h.session()
	relayed, err := h.srv.CreateSession(ctx, crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.CreateSession(ctx, crossbar.SessionOptions{MediaMode: crossbar.Relayed, ArchiveMode: crossbar.ArchiveModeAlways}); !errors.Is(err, crossbar.ErrInvalidOption) {
		t.Errorf("archive mode always in a relayed session: %v", err)
	}
	for _, c := range []struct {
		what    string
		session string
		opts    crossbar.ArchiveOptions
		want    error
	}{
		{"relayed session", relayed.ID(), crossbar.ArchiveOptions{}, crossbar.ErrArchiveConflict},
		{"unknown session", "1_nope", crossbar.ArchiveOptions{}, crossbar.ErrInvalidSessionID},
		{"composed, custom layout", s.ID(), crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed, Layout: crossbar.ArchiveLayout{Type: "custom", Stylesheet: "stream {}"}}, crossbar.ErrNotSupported},
		{"composed, resolution", s.ID(), crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed, Resolution: "800x600"}, crossbar.ErrInvalidOption},
		{"composed, layout", s.ID(), crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed, Layout: crossbar.ArchiveLayout{Type: "pip", ScreenshareType: "pip"}}, crossbar.ErrInvalidOption},
		{"long name", s.ID(), crossbar.ArchiveOptions{Name: strings.Repeat("n", 81)}, crossbar.ErrInvalidOption},
		{"no media", s.ID(), crossbar.ArchiveOptions{NoAudio: true, NoVideo: true}, crossbar.ErrInvalidOption},
		{"stream mode", s.ID(), crossbar.ArchiveOptions{StreamMode: "some"}, crossbar.ErrInvalidOption},
		{"individual with a layout", s.ID(), crossbar.ArchiveOptions{Layout: crossbar.ArchiveLayout{Type: "pip"}}, crossbar.ErrInvalidOption},
	} {
		if _, err := h.srv.StartArchive(ctx, c.session, c.opts); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, err, c.want)
		}
	}

	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{}); !errors.Is(err, crossbar.ErrArchiveConflict) {
		t.Errorf("a second archive: %v, want ErrArchiveConflict", err)
	}
	if _, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{MultiArchiveTag: "b"}); !errors.Is(err, crossbar.ErrArchiveConflict) {
		t.Errorf("a tagged archive beside an untagged one: %v, want ErrArchiveConflict", err)
	}
	if err := h.srv.SetArchiveLayout(ctx, a.ID, crossbar.ArchiveLayout{Type: "mosaic"}); !errors.Is(err, crossbar.ErrInvalidOption) {
		t.Errorf("layout type out of range: %v", err)
	}
	if err := h.srv.SetArchiveLayout(ctx, a.ID, crossbar.ArchiveLayout{Type: "pip"}); !errors.Is(err, crossbar.ErrInvalidOption) {
		t.Errorf("the layout of an individual archive: %v", err)
	}
	if err := h.srv.AddArchiveStream(ctx, a.ID, crossbar.ArchiveStream{StreamID: "x", HasAudio: true}); !errors.Is(err, crossbar.ErrArchiveConflict) {
		t.Errorf("adding a stream in auto mode: %v", err)
	}
	if err := h.srv.DeleteArchive(ctx, a.ID); !errors.Is(err, crossbar.ErrArchiveConflict) {
		t.Errorf("deleting a recording archive: %v", err)
	}
	if _, err := h.srv.StopArchive(ctx, "nope"); !errors.Is(err, crossbar.ErrArchiveNotFound) {
		t.Errorf("stopping an unknown archive: %v", err)
	}
	if _, err := h.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.StopArchive(ctx, a.ID); !errors.Is(err, crossbar.ErrArchiveConflict) {
		t.Errorf("stopping it again: %v", err)
	}

	// Tagged archives run side by side, one per tag.
	for _, tag := range []string{"x", "y"} {
		if _, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{MultiArchiveTag: tag}); err != nil {
			t.Fatalf("tag %s: %v", tag, err)
		}
	}
	if _, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{MultiArchiveTag: "x"}); !errors.Is(err, crossbar.ErrArchiveConflict) {
		t.Errorf("a second archive tagged x: %v", err)
	}
	list, total, err := h.srv.Archives(ctx, crossbar.ArchiveListOptions{SessionID: s.ID(), Offset: 1, Count: 1})
	if err != nil || total != 3 || len(list) != 1 || list[0].MultiArchiveTag != "x" {
		t.Fatalf("Archives, second page of one: %d of %d, %+v, %v", len(list), total, list, err)
	}
}

// A Storage that fails makes the archive fail, with the reason; the
// session goes on.
func TestArchiveStorageFails(t *testing.T) {
	h := newHarness(t, crossbar.Config{Archives: fullDisk{}})
	s := h.session()
	c := h.mediaClient(s, h.ws, "pub", nil, client.Options{})
	publishTagged(t, c, "pub")
	ctx := context.Background()
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c, signaling.TypeArchiveStopped); ev.Archive.ID != a.ID {
		t.Fatalf("archiveStopped: %+v", ev.Archive)
	}
	got, _ := h.srv.Archive(ctx, a.ID)
	if got.Status != crossbar.ArchiveFailed || !strings.Contains(got.Reason, "no space left") {
		t.Fatalf("archive: %+v, want failed for no space left", got)
	}
	if err := c.Signal(ctx, "", "still", "here"); err != nil {
		t.Fatalf("the session after the archive failed: %v", err)
	}
}

// fullDisk is a Storage with no room.
type fullDisk struct{}

func (fullDisk) Create(context.Context, string, string) (io.WriteCloser, error) {
	return nil, errors.New("no space left on device")
}
func (fullDisk) Remove(context.Context, string) error { return nil }

// An archive stops after MaxArchiveDuration, as OpenTok's do.
func TestArchiveMaxDuration(t *testing.T) {
	clock := crossbartest.NewClock(time.Now())
	h, _ := archiveHarness(t, crossbar.Config{Clock: clock})
	s := h.session()
	c := h.connect(s, crossbar.RolePublisher, "c")
	ctx := context.Background()
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(crossbar.MaxArchiveDuration - time.Second)
	if got, _ := h.srv.Archive(ctx, a.ID); got.Status != crossbar.ArchivePaused {
		t.Fatalf("before the limit: %s", got.Status)
	}
	clock.Advance(time.Second)
	if ev := next(t, c, signaling.TypeArchiveStopped); ev.Archive.ID != a.ID {
		t.Fatalf("archiveStopped: %+v", ev.Archive)
	}
	got, _ := h.srv.Archive(ctx, a.ID)
	if got.Status != crossbar.ArchiveAvailable || got.Reason != "maxDuration" || got.Duration != crossbar.MaxArchiveDuration {
		t.Fatalf("after the limit: %+v", got)
	}
}

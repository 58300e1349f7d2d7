package crossbar_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// watchArchives is the page code that logs a session's archive events.
const watchArchives = `window.archives = [];
for (const t of ['archiveStarted', 'archiveStopped']) S.on(t, (e) => archives.push(e.type + ' ' + e.id + ' ' + e.name));`

// joinWatchingArchives opens a page that joins s, and keeps the archive
// events it gets, those it gets as it joins too, in its archives.
func joinWatchingArchives(t *testing.T, r *jsRig, s *crossbar.Session, name string) *browsertest.Page {
	t.Helper()
	p := r.browser.Open(t, name, r.url+"/")
	p.Eval(fmt.Sprintf(`(async () => {
  window.S = OT.initSession('ignored', %s);
  %s
  await S.connect(%s);
})()`, jsString(s.ID()), watchArchives, jsString(r.token(s, crossbar.RoleSubscriber, name))), nil)
	return p
}

// An individual archive of a Chromium page's camera: its file holds VP8
// and Opus for as long as it recorded, and the page, and one that joins
// while it records, hear of it as opentok.js's pages do.
func TestJSArchive(t *testing.T) {
	dir := archive.Dir(t.TempDir())
	r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true}, Archives: dir})
	s := r.session()
	p, _ := r.join("publisher", s, crossbar.RolePublisher)
	p.Eval(watchArchives, nil)
	stream := publish(t, p, `{resolution: '640x480'}`)

	ctx := context.Background()
	a, err := r.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{Name: "class"})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait("archiveStarted", fmt.Sprintf(`archives.includes('archiveStarted %s class')`, a.ID), mediaWait)

	joinWatchingArchives(t, r, s, "late").Wait("archiveStarted on joining", fmt.Sprintf(`archives.includes('archiveStarted %s class')`, a.ID), mediaWait)

	fps := recordPage(t, r, p, a.ID, 5*time.Second)
	if _, err := r.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	p.Wait("archiveStopped", fmt.Sprintf(`archives.includes('archiveStopped %s class')`, a.ID), mediaWait)
	m := manifest(t, dir, a.ID)
	if len(m.Files) != 1 || m.Files[0].StreamID != stream || m.Files[0].ConnectionData != "publisher" {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	// Chromium's fake camera captures 20 frames a second; on a busy
	// machine Chromium sends fewer.
	checkFile(t, dir, a.ID, m.Files[0], fps, "")
}

// recordPage waits until the archive has recorded for d, and returns the
// frames a second the page that publishes in it sent meanwhile.
func recordPage(t *testing.T, r *jsRig, p tab, id string, d time.Duration) (fps float64) {
	t.Helper()
	var before, after int
	p.Eval(framesSent, &before)
	start := time.Now()
	recordFor(t, r.srv, id, d)
	p.Eval(framesSent, &after)
	fps = float64(after-before) / time.Since(start).Seconds()
	t.Logf("the page sent %.1f frames a second while it was recorded", fps)
	return fps
}

// framesSent gives, in a page that publishes P, the video frames it sent
// so far on its top simulcast layer, the one an archive records (the
// layers send alike).
const framesSent = `(async () => {
  let n = 0;
  for (const {rtcStatsReport} of await P.getRtcStatsReport()) {
    rtcStatsReport.forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'video') n = Math.max(n, r.framesSent || 0); });
  }
  return n;
})()`

// An individual archive of a Chromium page publishing H.264 (the
// session's codec): its Matroska file is AVC with the header's
// configuration (avcC), ffprobe reads its size and decodes 90 % of the
// frames the page sent while it was recorded.
func TestJSArchiveH264(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not installed (apt-get install ffmpeg): cannot check the archive's file")
	}
	dir := archive.Dir(t.TempDir())
	r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true}, Archives: dir})
	s := r.sessionWith(crossbar.SessionOptions{VideoCodec: crossbar.H264})
	p, _ := r.join("publisher", s, crossbar.RolePublisher)
	stream := publish(t, p, `{resolution: '640x480'}`)
	if st, err := s.Stream(stream); err != nil || !strings.EqualFold(st.Publisher().VideoCodec(), "video/H264") {
		t.Fatalf("the page's stream: %v, %v; want H.264", st, err)
	}
	ctx := context.Background()
	a, err := r.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fps := recordPage(t, r, p, a.ID, 4*time.Second)
	if _, err := r.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	m := manifest(t, dir, a.ID)
	if len(m.Files) != 1 || m.Files[0].Filename != stream+".mkv" {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	f := m.Files[0]
	var stderr strings.Builder
	probe := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_frames",
		"-show_entries", "stream=codec_name,width,height,is_avc,nal_length_size,nb_read_frames", "-of", "csv=p=0",
		dir.Path(a.ID, f.Filename))
	probe.Stderr = &stderr
	out, err := probe.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe found errors in the file:\n%s", stderr.String())
	}
	fields := strings.Split(strings.TrimSpace(string(out)), ",") // h264,W,H,true,4,N
	if len(fields) != 6 || fields[0] != "h264" || fields[3] != "true" || fields[4] != "4" {
		t.Fatalf("ffprobe reads %q, want h264, AVC with 4-byte lengths", out)
	}
	width, _ := strconv.Atoi(fields[1])
	height, _ := strconv.Atoi(fields[2])
	frames, _ := strconv.Atoi(fields[5])
	want := time.Duration(f.StopTimeOffset-f.StartTimeOffset) * time.Millisecond
	t.Logf("%s: %dx%d, %d frames in %v", f.Filename, width, height, frames, want)
	if width < 160 || height < 120 || width*3 != height*4 {
		t.Errorf("ffprobe reads a size of %dx%d, want the camera's 4:3", width, height)
	}
	if min := int(want.Seconds() * fps * 0.9); frames < min {
		t.Errorf("%d frames, want at least %d (90 %% of %v at %.1f fps)", frames, min, want, fps)
	}
}

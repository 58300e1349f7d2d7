package crossbar_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// watchArchives is the page code that logs a session's archive events.
const watchArchives = `window.archives = [];
for (const t of ['archiveStarted', 'archiveStopped']) S.on(t, (e) => archives.push(e.type + ' ' + e.id + ' ' + e.name));`

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

	late := r.browser.Open(t, "late", r.url+"/")
	late.Eval(fmt.Sprintf(`(async () => {
  window.S = OT.initSession('ignored', %s);
  %s
  await S.connect(%s);
})()`, jsString(s.ID()), watchArchives, jsString(r.token(s, crossbar.RoleSubscriber, "late"))), nil)
	late.Wait("archiveStarted on joining", fmt.Sprintf(`archives.includes('archiveStarted %s class')`, a.ID), mediaWait)

	var before, after int
	p.Eval(framesSent, &before)
	start := time.Now()
	recordFor(t, r.srv, a.ID, 5*time.Second)
	p.Eval(framesSent, &after)
	fps := float64(after-before) / time.Since(start).Seconds()
	t.Logf("the page sent %.1f frames a second while it was recorded", fps)
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

// Package browsertest drives a headless Chromium for tests of the browser
// client and the example apps. The browser gets a fresh profile, fake
// camera and microphone, and reaches nothing but 127.0.0.1.
//
// Without Chromium the tests that use it are skipped, unless the variable
// CI is set: there a missing browser is a failure.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Binaries are the names under which Chromium is looked for in PATH, after
// the variable CHROMIUM (a path).
var Binaries = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Find returns a browser's path: the variable env if set, else the first
// of names found in PATH, else "".
func Find(env string, names []string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is a fresh profile (a browser context: no cookies, storage or
// permissions shared with other Browsers) in the test binary's headless
// Chromium, which starts with the first New and ends with Main.
type Browser struct {
	ctx context.Context
}

// process is the test binary's Chromium: one start instead of one a test.
var process struct {
	once   sync.Once
	ctx    context.Context // its first tab's: the browser lives while it does
	cancel func()
	dir    string // its profile directory
	err    error
}

// Main runs a package's tests, then ends the Chromium they started; use it
// in TestMain, around the leak checks: goleak.VerifyTestMain(browsertest.Main(m)).
func Main(m interface{ Run() int }) interface{ Run() int } { return mainRunner{m} }

type mainRunner struct{ m interface{ Run() int } }

func (r mainRunner) Run() int {
	code := r.m.Run()
	if process.cancel != nil {
		process.cancel()
		_ = os.RemoveAll(process.dir)
	}
	return code
}

// New returns a fresh profile that is closed with the test. It skips the
// test, or with CI set fails it, when Chromium is not installed, and with
// -short.
func New(t testing.TB) *Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: not with -short")
	}
	path := Find("CHROMIUM", Binaries)
	if path == "" {
		msg := "browser test needs Chromium (apt-get install chromium, or set CHROMIUM to its path)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	Exclusive(t)
	process.once.Do(func() { process.err = start(path) })
	if process.err != nil {
		t.Fatalf("start %s: %v", path, process.err)
	}
	ctx, cancel := chromedp.NewContext(process.ctx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("new browser context: %v", err)
	}
	t.Cleanup(cancel)
	return &Browser{ctx: ctx}
}

// start starts the Chromium process.
func start(path string) error {
	dir, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		return err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		// Pages may make sound (a WebAudio tone to publish) without a click.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Background tabs must keep decoding: several pages play at once.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		// Loopback only: no name resolution, WebRTC on 127.0.0.1 with real
		// (not mDNS) candidates.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		_ = os.RemoveAll(dir)
		return err
	}
	process.ctx, process.dir = ctx, dir
	process.cancel = func() {
		cancel()
		cancelAlloc()
	}
	return nil
}

// Page is one browser tab.
type Page struct {
	t     testing.TB
	ctx   context.Context
	close context.CancelFunc
	name  string

	mu  sync.Mutex
	log []string
}

// Open opens url in a new tab that closes with the test. The tab's console
// output and uncaught errors are printed if the test fails.
func (b *Browser) Open(t testing.TB, name, url string) *Page {
	t.Helper()
	p := &Page{t: t, name: name}
	var cancel context.CancelFunc
	p.ctx, cancel = chromedp.NewContext(b.ctx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			p.record(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			p.record("exception: " + msg)
		}
	}))
	p.close = cancel
	t.Cleanup(func() {
		if t.Failed() {
			p.mu.Lock()
			t.Logf("page %s log:\n\t%s", name, strings.Join(p.log, "\n\t"))
			p.mu.Unlock()
		}
		cancel()
	})
	if err := chromedp.Do(p.ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("page %s: open %s: %v", name, url, err)
	}
	return p
}

// Close closes the tab before the test ends.
func (p *Page) Close() {
	p.close()
}

func (p *Page) record(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, time.Now().Format("15:04:05.000 ")+line)
}

// Eval runs a JavaScript expression in the page, awaits it if it is a
// promise, and stores its JSON value in out (which may be nil). A thrown
// error or rejection fails the test.
func (p *Page) Eval(js string, out any) {
	p.t.Helper()
	if err := p.Try(js, out); err != nil {
		p.t.Fatalf("page %s: %v", p.name, err)
	}
}

// Try is Eval returning the error instead of failing the test.
func (p *Page) Try(js string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Errorf("eval %s: %w", Abbrev(js), err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("eval %s: result %s: %w", Abbrev(js), raw, err)
		}
	}
	return nil
}

// Evaluator runs JavaScript in a page and decodes its JSON value: a
// Chromium Page, or a Firefox one (package firefoxtest).
type Evaluator interface {
	Try(js string, out any) error
}

// Wait polls a JavaScript condition until it is true, and fails the test
// when it is not within timeout. what describes the condition.
func (p *Page) Wait(what, js string, timeout time.Duration) {
	p.t.Helper()
	Wait(p.t, p, p.name, what, js, timeout)
}

// Wait polls a JavaScript condition in page e (named page) until it is
// true, and fails the test when it is not within timeout.
func Wait(t testing.TB, e Evaluator, page, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		err := e.Try("Promise.resolve("+js+").then(Boolean)", &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("page %s: %s: not within %v (last error: %v)", page, what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Abbrev shortens JavaScript for error messages.
func Abbrev(js string) string {
	js = strings.Join(strings.Fields(js), " ")
	if len(js) > 120 {
		return js[:120] + "…"
	}
	return js
}

// videosPlay is true when at least n videos match the selector, and every
// one of them has a size and decodes new frames within 400 ms.
const videosPlay = `(async (selector, n) => {
  const videos = [...document.querySelectorAll(selector)];
  if (videos.length < n) return false;
  const before = videos.map((v) => v.getVideoPlaybackQuality().totalVideoFrames);
  await new Promise((r) => setTimeout(r, 400));
  return videos.every((v, i) => v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > before[i]);
})`

// WaitVideos waits until at least n video elements match selector and every
// one of them plays: its size is known and its decoded frame count grows.
func (p *Page) WaitVideos(selector string, n int, timeout time.Duration) {
	p.t.Helper()
	WaitVideos(p.t, p, p.name, selector, n, timeout)
}

// WaitVideos is Page.WaitVideos for any page.
func WaitVideos(t testing.TB, e Evaluator, page, selector string, n int, timeout time.Duration) {
	t.Helper()
	q, _ := json.Marshal(selector)
	Wait(t, e, page, fmt.Sprintf("%d playing videos %s", n, selector), fmt.Sprintf("%s(%s, %d)", videosPlay, q, n), timeout)
}

// videoDecodes is true when every subscriber of the page (OT.subscribers)
// has its video's size and decodes frames, as WebRTC's statistics count
// them (framesDecoded, summed over its receivers: a subscription that
// followed its stream to another node has a new one, beside the old one's
// last statistics): for browsers whose headless video elements count no
// frames (Firefox).
const videoDecodes = `(async () => {
  const subs = OT.subscribers.map((s) => s);
  if (!subs.length || subs.some((s) => !s.videoWidth())) return false;
  const count = async () => Promise.all(subs.map(async (s) => {
    let n = 0;
    (await s.getRtcStatsReport()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
    return n;
  }));
  const before = await count();
  await new Promise((r) => setTimeout(r, 400));
  const after = await count();
  return after.every((n, i) => n > before[i]);
})()`

// WaitDecodedVideo waits until every subscriber of page e decodes video.
func WaitDecodedVideo(t testing.TB, e Evaluator, page string, timeout time.Duration) {
	t.Helper()
	Wait(t, e, page, "decoded video on every subscriber", videoDecodes, timeout)
}

// audioFlows is true when every subscriber of the page (OT.subscribers of
// the Crossbar client) receives audio packets: their count grows.
const audioFlows = `(async () => {
  const subs = OT.subscribers.map((s) => s);
  if (!subs.length) return false;
  const count = async () => Promise.all(subs.map(async (s) => (await s.getStats()).audio.packetsReceived));
  const before = await count();
  await new Promise((r) => setTimeout(r, 400));
  const after = await count();
  return after.every((n, i) => n > before[i]);
})()`

// WaitInboundAudio waits until every subscriber of the page receives audio
// packets, as getStats counts them.
func (p *Page) WaitInboundAudio(timeout time.Duration) {
	p.t.Helper()
	WaitInboundAudio(p.t, p, p.name, timeout)
}

// WaitInboundAudio is Page.WaitInboundAudio for any page.
func WaitInboundAudio(t testing.TB, e Evaluator, page string, timeout time.Duration) {
	t.Helper()
	Wait(t, e, page, "inbound audio on every subscriber", audioFlows, timeout)
}

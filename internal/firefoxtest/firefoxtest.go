// Package firefoxtest drives a headless Firefox over WebDriver BiDi for
// tests of the browser client, as browsertest drives Chromium: a fresh
// profile with fake camera and microphone, and pages to evaluate script in.
//
// Firefox calls out on its own (updates, telemetry) and gathers ICE
// candidates only where it has a route, so its tests run inside a network
// namespace made for them (.ci/netns, which sets CROSSBAR_NETNS): nothing
// it sends leaves the namespace. Elsewhere they are skipped; so are they
// without Firefox, unless the variable CI is set.
package firefoxtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crossbar-rtc/crossbar/internal/browsertest"
)

// Binaries are the names under which Firefox is looked for in PATH, after
// the variable FIREFOX (a path).
var Binaries = []string{"firefox-esr", "firefox"}

// prefs make a profile for tests: fake media without prompts, autoplay,
// ICE on loopback with real addresses, and nothing that calls home.
var prefs = map[string]any{
	"media.navigator.streams.fake":                      true,
	"media.navigator.permission.disabled":               true,
	"media.autoplay.default":                            0,
	"media.autoplay.blocking_policy":                    0,
	"media.peerconnection.ice.loopback":                 true,
	"media.peerconnection.ice.obfuscate_host_addresses": false,
	"app.update.disabledForTesting":                     true,
	"browser.shell.checkDefaultBrowser":                 false,
	"datareporting.policy.dataSubmissionEnabled":        false,
	"toolkit.telemetry.enabled":                         false,
	"network.captive-portal-service.enabled":            false,
	"network.connectivity-service.enabled":              false,
	"browser.safebrowsing.malware.enabled":              false,
	"browser.safebrowsing.phishing.enabled":             false,
	"extensions.update.enabled":                         false,
}

// Browser is one headless Firefox process and its BiDi session.
type Browser struct {
	t    testing.TB
	cmd  *exec.Cmd
	conn *websocket.Conn

	mu      sync.Mutex
	next    int
	pending map[int]chan message
	logs    map[string][]string // console output by browsing context
	done    chan struct{}       // closed when the reader stops
}

type message struct {
	Type    string          `json:"type"`
	ID      int             `json:"id"`
	Method  string          `json:"method"`
	Result  json.RawMessage `json:"result"`
	Params  json.RawMessage `json:"params"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

// New starts Firefox; it ends with the test.
func New(t testing.TB) *Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: not with -short")
	}
	if os.Getenv("CROSSBAR_NETNS") == "" {
		t.Skip("Firefox tests run inside a network namespace of their own: .ci/netns go test -run Firefox ./...")
	}
	path := browsertest.Find("FIREFOX", Binaries)
	if path == "" {
		msg := "Firefox test needs Firefox (apt-get install firefox-esr, or set FIREFOX to its path)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	browsertest.Exclusive(t)
	dir := t.TempDir()
	var js strings.Builder
	for k, v := range prefs {
		b, _ := json.Marshal(v)
		fmt.Fprintf(&js, "user_pref(%q, %s);\n", k, b)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(js.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(path, "--headless", "--no-remote", "--profile", dir, "--remote-debugging-port", "0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	b := &Browser{t: t, cmd: cmd, pending: map[int]chan message{}, logs: map[string][]string{}, done: make(chan struct{})}
	t.Cleanup(b.close)
	url, err := listening(ctx, stderr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b.conn, _, err = websocket.Dial(ctx, url+"/session", nil)
	if err != nil {
		t.Fatalf("connect to Firefox's BiDi: %v", err)
	}
	b.conn.SetReadLimit(64 << 20)
	go b.read()
	b.call("session.new", map[string]any{"capabilities": map[string]any{}}, nil)
	b.call("session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}, nil)
	return b
}

var listenLine = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// listening returns the BiDi address Firefox prints, then drains its
// output.
func listening(ctx context.Context, stderr interface{ Read([]byte) (int, error) }) (string, error) {
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			if m := listenLine.FindStringSubmatch(s.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case url := <-found:
		return url, nil
	case <-ctx.Done():
		return "", errors.New("no WebDriver BiDi address printed")
	}
}

// read dispatches replies to their calls and records console output.
func (b *Browser) read() {
	defer close(b.done)
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				ch <- message{Type: "error", Error: "closed", Message: err.Error()}
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if m.Type == "event" && m.Method == "log.entryAdded" {
			var e struct {
				Level  string
				Text   string
				Source struct{ Context string }
			}
			if json.Unmarshal(m.Params, &e) == nil {
				b.mu.Lock()
				b.logs[e.Source.Context] = append(b.logs[e.Source.Context], e.Level+": "+e.Text)
				b.mu.Unlock()
			}
			continue
		}
		b.mu.Lock()
		ch, ok := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ok {
			ch <- m
		}
	}
}

// call sends a BiDi command and decodes its result into out (if not nil).
func (b *Browser) call(method string, params, out any) {
	b.t.Helper()
	if err := b.try(method, params, out); err != nil {
		b.t.Fatal(err)
	}
}

func (b *Browser) try(method string, params, out any) error {
	ch := make(chan message, 1)
	b.mu.Lock()
	b.next++
	id := b.next
	b.pending[id] = ch
	b.mu.Unlock()
	req, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.conn.Write(ctx, websocket.MessageText, req); err != nil {
		return fmt.Errorf("firefox: %s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Type == "error" {
			return fmt.Errorf("firefox: %s: %s: %s", method, m.Error, m.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("firefox: %s: no reply", method)
	}
}

func (b *Browser) close() {
	if b.conn != nil {
		_ = b.try("browser.close", map[string]any{}, nil)
		_ = b.conn.CloseNow()
		<-b.done
	}
	exited := make(chan struct{})
	go func() {
		_ = b.cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(2 * time.Second): // it lingers after browser.close
		_ = b.cmd.Process.Kill()
		<-exited
	}
}

// Page is one tab.
type Page struct {
	t       testing.TB
	b       *Browser
	name    string
	context string
}

// Open opens url in a new tab. Its console output is printed if the test
// fails.
func (b *Browser) Open(t testing.TB, name, url string) *Page {
	t.Helper()
	var created struct{ Context string }
	b.call("browsingContext.create", map[string]any{"type": "tab"}, &created)
	p := &Page{t: t, b: b, name: name, context: created.Context}
	t.Cleanup(func() {
		if t.Failed() {
			b.mu.Lock()
			t.Logf("firefox page %s log:\n\t%s", name, strings.Join(b.logs[p.context], "\n\t"))
			b.mu.Unlock()
		}
	})
	b.call("browsingContext.navigate", map[string]any{"context": p.context, "url": url, "wait": "complete"}, nil)
	return p
}

// Close closes the tab before the test ends.
func (p *Page) Close() {
	p.t.Helper()
	p.b.call("browsingContext.close", map[string]any{"context": p.context}, nil)
}

// Eval evaluates a JavaScript expression, awaiting it if it is a promise,
// and decodes its JSON value into out (if not nil). An exception fails the
// test.
func (p *Page) Eval(js string, out any) {
	p.t.Helper()
	if err := p.Try(js, out); err != nil {
		p.t.Fatalf("firefox page %s: %v", p.name, err)
	}
}

// Try is Eval that returns the error.
func (p *Page) Try(js string, out any) error {
	var res struct {
		Type   string
		Result struct {
			Type  string
			Value json.RawMessage
		}
		ExceptionDetails struct{ Text string }
	}
	expr := "(async () => JSON.stringify(await (" + js + ")))()"
	err := p.b.try("script.evaluate", map[string]any{
		"expression": expr, "target": map[string]any{"context": p.context}, "awaitPromise": true,
	}, &res)
	switch {
	case err != nil:
		return err
	case res.Type == "exception":
		return fmt.Errorf("%s: %s", browsertest.Abbrev(js), res.ExceptionDetails.Text)
	case out == nil || res.Result.Type != "string":
		return nil
	}
	var text string
	if err := json.Unmarshal(res.Result.Value, &text); err != nil {
		return err
	}
	return json.Unmarshal([]byte(text), out)
}

// Wait polls a JavaScript condition until it is true, and fails the test
// when it is not within timeout.
func (p *Page) Wait(what, js string, timeout time.Duration) {
	p.t.Helper()
	browsertest.Wait(p.t, p, "firefox "+p.name, what, js, timeout)
}

// WaitDecodedVideo waits until every subscriber of the page decodes video
// (browsertest.WaitDecodedVideo): headless Firefox's video elements count
// no frames.
func (p *Page) WaitDecodedVideo(timeout time.Duration) {
	p.t.Helper()
	browsertest.WaitDecodedVideo(p.t, p, "firefox "+p.name, timeout)
}

// WaitInboundAudio waits until every subscriber of the page receives audio
// (browsertest.WaitInboundAudio).
func (p *Page) WaitInboundAudio(timeout time.Duration) {
	p.t.Helper()
	browsertest.WaitInboundAudio(p.t, p, "firefox "+p.name, timeout)
}

package crossbar_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// proxy is a TCP relay on loopback whose links the test can cut, as a
// failing network would: no closing handshake reaches either side. It can
// also freeze, as a partition does: every link, new ones included, stays
// open but carries nothing, not even a close, until thaw.
type proxy struct {
	ln     net.Listener
	target string
	to     atomic.Pointer[string] // where new links go instead, once set (switchTo)
	frozen atomic.Bool
	links  atomic.Int64 // links accepted so far
	mu     sync.Mutex
	conns  []net.Conn
	closed bool // by close: links accepted late are dropped
	wg     sync.WaitGroup
}

// newProxy relays to the host of the WebSocket URL ws and returns the proxy
// and the URL to dial through it.
func newProxy(t *testing.T, ws string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(ws)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: u.Host}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p, strings.Replace(ws, u.Host, ln.Addr().String(), 1)
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.links.Add(1)
		target := p.target
		if to := p.to.Load(); to != nil {
			target = *to
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			continue
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		var broken atomic.Bool // the link lost data: it never carries any again
		go p.pipe(in, out, &broken)
		go p.pipe(out, in, &broken)
	}
}

// pipe copies src to dst. While the proxy is frozen it drops what arrives
// and marks the link broken: a stream with a gap is of no use to either end,
// so a broken link drops everything after the thaw too. When src ends it
// closes dst, unless frozen: then the end does not get through either, and
// dst stays open until cut or close.
func (p *proxy) pipe(dst, src net.Conn, broken *atomic.Bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.frozen.Load() {
			broken.Store(true)
		}
		if n > 0 && !broken.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			break
		}
	}
	if !p.frozen.Load() {
		dst.Close()
	}
}

// freeze stops every link from carrying anything, without closing it: each
// side's writes succeed and vanish, as over a half-open connection.
func (p *proxy) freeze() { p.frozen.Store(true) }

// thaw lets links carry data again, but for those that lost some while
// frozen: their ends must notice and dial anew, as after a long partition.
func (p *proxy) thaw() { p.frozen.Store(false) }

// cut drops every relayed link abruptly.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // reset, not a graceful FIN
		}
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cut()
	p.wg.Wait()
}

// flakyClient connects a Go client to s through a proxy, and another one
// directly, and waits until the first has seen both. It returns the proxy,
// the flaky client, the other and the flaky client's connection id.
func flakyClient(t *testing.T, h *harness, s *crossbar.Session, opts *client.Options) (*proxy, *client.Session, *client.Session, string) {
	t.Helper()
	p, viaProxy := newProxy(t, h.ws)
	flaky, err := client.Connect(context.Background(), viaProxy, h.token(s, crossbar.RolePublisher, "flaky"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flaky.Disconnect() })
	other := h.connect(s, crossbar.RolePublisher, "other")
	next(t, flaky, signaling.TypeConnectionCreated) // itself
	next(t, flaky, signaling.TypeConnectionCreated) // other
	return p, flaky, other, flaky.Connection().ID
}

// joinViaProxy opens a page whose link to the server goes through a proxy
// and connects it to s as name. It returns the proxy, the page and its
// connection id.
func joinViaProxy(t *testing.T, r *jsRig, s *crossbar.Session, name string) (*proxy, *browsertest.Page, string) {
	t.Helper()
	px, viaProxy := newProxy(t, r.url)
	p := r.browser.Open(t, name, viaProxy+"/")
	var res jsResult
	p.Eval(call("join", s.ID(), r.token(s, crossbar.RolePublisher, name)), &res)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	return px, p, res.ID
}

package crossbar_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
)

// countingTransport is a page-side transport for OT.initSession's
// transport option: a WebSocket to the server behind a link of its own that
// counts what goes through it, and can drop the link as a failed network
// would.
const countingTransport = `
window.through = { opened: 0, sent: 0, received: 0, links: [] };
window.countingTransport = () => {
  through.opened++;
  const ws = new WebSocket(new URL('/crossbar/ws', location.href).href.replace(/^http/, 'ws'), 'crossbar.v1');
  const link = {
    onopen: null, onmessage: null, onclose: null,
    get readyState() { return ws.readyState; },
    send(data) { through.sent++; ws.send(data); },
    close(code, reason) { ws.close(code, reason); },
  };
  ws.onopen = (e) => link.onopen && link.onopen(e);
  ws.onmessage = (e) => { through.received++; link.onmessage && link.onmessage({ data: e.data }); };
  ws.onclose = (e) => link.onclose && link.onclose(e);
  through.links.push(ws);
  return link;
};
`

// With the transport option, all of a page's signaling goes through the
// app's transport: connecting, signals both ways, and the resume after the
// link fails, which opens a new link with the same transport.
func TestJSTransportOption(t *testing.T) {
	r := newJSRigConfig(t, crossbar.Config{ReconnectGrace: 30 * time.Second})
	s := r.session()
	p := r.browser.Open(t, "own transport", r.url+"/")
	p.Eval(countingTransport, nil)
	var res jsResult
	p.Eval(`join(`+jsString(s.ID())+`, `+jsString(r.token(s, crossbar.RolePublisher, "own"))+`, { transport: countingTransport })`, &res)
	if res.Error != nil {
		t.Fatalf("connect over the transport: %+v", res.Error)
	}
	other, otherID := r.join("other", s, crossbar.RolePublisher)
	p.Wait("other arrived", `S.connections.length === 2`, 5*time.Second)

	other.Eval(`S.signal({type: 'to', data: 'own', to: S.connections.get(`+jsString(res.ID)+`)})`, nil)
	p.Wait("the other's signal", `types().includes('signal:to')`, 5*time.Second)
	p.Eval(`S.signal({type: 'from', data: 'own', to: S.connections.get(`+jsString(otherID)+`)})`, nil)
	other.Wait("the signal from the page", `types().includes('signal:from')`, 5*time.Second)
	var counts struct{ Opened, Sent, Received int }
	p.Eval(`({opened: through.opened, sent: through.sent, received: through.received})`, &counts)
	// Sent: connect and the signal; received: connected, connectionCreated,
	// the signal and the signal's ok.
	if counts.Opened != 1 || counts.Sent < 2 || counts.Received < 4 {
		t.Fatalf("through the transport: %+v, want 1 link, 2 messages sent and 4 received at least", counts)
	}

	// The keep-alive's pings go through it too.
	p.Wait("a ping through the transport", `through.sent > `+strconv.Itoa(counts.Sent), 5*time.Second)

	// Drop the link without a goodbye: the page resumes over a new one.
	p.Eval(`through.links[0].close(4000, 'dropped')`, nil)
	p.Wait("sessionReconnected", `types().includes('sessionReconnected')`, 10*time.Second)
	p.Eval(`({opened: through.opened, sent: through.sent, received: through.received})`, &counts)
	if counts.Opened != 2 {
		t.Fatalf("links opened: %d, want 2", counts.Opened)
	}
	other.Eval(`S.signal({type: 'again', data: 'own', to: S.connections.get(`+jsString(res.ID)+`)})`, nil)
	p.Wait("a signal after the resume", `types().includes('signal:again')`, 5*time.Second)
	var others []string
	other.Eval(`types()`, &others)
	if slices.Contains(others, "connectionDestroyed") {
		t.Errorf("the other page saw the connection go: %v", others)
	}
}

package crossbar_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// jsPage is the page the browser client's tests run in. Its helpers record
// a session's events and report errors as values, so that tests can read
// them.
const jsPage = `<!doctype html>
<meta charset="utf-8">
<script src="/crossbar/crossbar.js"></script>
<body>
<script>
window.log = [];
function watch(s) {
  for (const t of ['sessionConnected', 'sessionDisconnected', 'sessionReconnecting', 'sessionReconnected',
      'connectionCreated', 'connectionDestroyed', 'streamCreated', 'streamDestroyed',
      'streamPropertyChanged', 'signal', 'muteForced']) {
    s.on(t, (e) => log.push({
      type: e.type, reason: e.reason, data: e.data, from: e.from ? e.from.connectionId : undefined,
      id: e.connection ? e.connection.connectionId : e.stream ? e.stream.streamId : undefined,
      prop: e.changedProperty, value: e.newValue, active: e.active,
    }));
  }
}
function types() { return log.map((e) => e.type); }
function failure(err) { return { error: { name: err.name, code: err.code, message: err.message } }; }
async function join(sid, token, options) {
  window.S = OT.initSession('ignored', sid, options);
  watch(S);
  try { await S.connect(token); } catch (err) { return failure(err); }
  return { id: S.connection.connectionId };
}
// publish publishes the fake camera and microphone and resolves with the
// stream id.
function publish(props) {
  return new Promise((resolve) => {
    window.P = OT.initPublisher(document.body, { insertMode: 'append', name: 'me', ...props });
    S.publish(P, (err) => resolve(err ? failure(err) : { id: P.stream.streamId }));
  });
}
// subscribeAll subscribes to every stream, now and later.
function subscribeAll(props) {
  const sub = (stream) => S.subscribe(stream, document.body, { insertMode: 'append', ...props });
  S.streams.forEach((s) => s.connection.connectionId !== S.connection.connectionId && sub(s));
  S.on('streamCreated', (e) => sub(e.stream));
}
</script>
`

// jsRig is a Crossbar server and the test page on one loopback HTTP server,
// and a browser.
type jsRig struct {
	t       *testing.T
	srv     *crossbar.Server
	url     string
	browser *browsertest.Browser
}

func newJSRig(t *testing.T) *jsRig {
	t.Helper()
	b := browsertest.New(t)
	srv, err := crossbar.New(crossbar.Config{APIKey: testKey, APISecret: testSecret, Media: sfu.Config{LoopbackOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", srv.Handler())
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, jsPage) })
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.CloseClientConnections()
		hs.Close()
	})
	return &jsRig{t: t, srv: srv, url: hs.URL, browser: b}
}

func (r *jsRig) session() *crossbar.Session {
	r.t.Helper()
	s, err := r.srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *jsRig) token(s *crossbar.Session, role crossbar.Role, data string) string {
	r.t.Helper()
	tok, err := r.srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: role, Data: data})
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// join opens the test page and connects it to s, and returns the page and
// its connection id.
func (r *jsRig) join(name string, s *crossbar.Session, role crossbar.Role) (*browsertest.Page, string) {
	r.t.Helper()
	p := r.browser.Open(r.t, name, r.url+"/")
	var res jsResult
	p.Eval(call("join", s.ID(), r.token(s, role, name)), &res)
	if res.Error != nil {
		r.t.Fatalf("page %s: connect: %+v", name, res.Error)
	}
	return p, res.ID
}

// jsResult is what the page's helpers resolve with.
type jsResult struct {
	ID    string   `json:"id"`
	Error *jsError `json:"error"`
}

type jsError struct {
	Name    string `json:"name"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// call returns the JavaScript call of fn with args, JSON-quoted.
func call(fn string, args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = jsString(a)
	}
	return fn + "(" + strings.Join(q, ", ") + ")"
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "<", `\x3c`)
	return "'" + r.Replace(s) + "'"
}

func TestJSPublishSubscribe(t *testing.T) {
	r := newJSRig(t)
	s := r.session()
	a, _ := r.join("a", s, crossbar.RolePublisher)
	b, _ := r.join("b", s, crossbar.RolePublisher)
	b.Eval("subscribeAll()", nil)
	var res jsResult
	a.Eval("publish()", &res)
	if res.Error != nil {
		t.Fatalf("publish: %+v", res.Error)
	}
	b.WaitVideos(".OT_subscriber:not(.OT_loading) video.OT_video-element", 1, 15*time.Second)
	b.WaitInboundAudio(10 * time.Second)
}

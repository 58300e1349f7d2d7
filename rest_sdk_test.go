package crossbar_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// openTokNodeSDK is the official OpenTok server SDK for Node the tests
// drive the REST API with, from the npm registry.
const openTokNodeSDK = "opentok@2.23.2"

// sdkDriver runs OpenTok Node SDK calls it reads from stdin, one JSON
// object a line ({id, op, ...arguments}), and writes each one's outcome
// as a line {id, error, result}.
const sdkDriver = `
const OpenTok = require('opentok');
const ot = new OpenTok(process.env.OT_KEY, process.env.OT_SECRET, { apiUrl: process.env.OT_URL });
const reply = (id, err, result) =>
  process.stdout.write(JSON.stringify({ id, error: err ? String(err.message || err) : '', result: result === undefined ? null : result }) + '\n');
const ops = {
  createSession: (a, cb) => ot.createSession(a.opts, (err, s) => cb(err, s && s.sessionId)),
  generateToken: (a, cb) => cb(null, ot.generateToken(a.sessionId, a.opts, a.t1)),
  listStreams: (a, cb) => ot.listStreams(a.sessionId, cb),
  // OpenTok.getStream parses the JSON its client has parsed already (a
  // bug of 2.23.2, against OpenTok too): its client's call is the same
  // request.
  getStream: (a, cb) => ot.client.getStream(a.sessionId, a.streamId, cb),
  setStreamClassLists: (a, cb) => ot.setStreamClassLists(a.sessionId, a.items, cb),
  signal: (a, cb) => ot.signal(a.sessionId, a.connectionId || null, a.payload, cb),
  forceDisconnect: (a, cb) => ot.forceDisconnect(a.sessionId, a.connectionId, cb),
  forceMuteStream: (a, cb) => ot.forceMuteStream(a.sessionId, a.streamId, (err) => cb(err)),
  forceMuteAll: (a, cb) => ot.forceMuteAll(a.sessionId, a.opts, (err) => cb(err)),
  disableForceMute: (a, cb) => ot.disableForceMute(a.sessionId, (err) => cb(err)),
};
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const a = JSON.parse(line);
  try { ops[a.op](a, (err, result) => reply(a.id, err, result)); } catch (e) { reply(a.id, e); }
});
`

// nodeSDK is a Node process running sdkDriver against a REST API URL.
type nodeSDK struct {
	t   *testing.T
	in  io.Writer
	out *bufio.Scanner
	n   int
}

// startNodeSDK installs the OpenTok Node SDK in a temporary folder and
// starts sdkDriver with apiURL; it skips the test without node and npm.
func startNodeSDK(t *testing.T, apiURL string) *nodeSDK {
	t.Helper()
	if testing.Short() {
		t.Skip("installs the OpenTok Node SDK from the npm registry")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the OpenTok Node SDK needs it", tool)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir, openTokNodeSDK)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", openTokNodeSDK, err, out)
	}
	script := filepath.Join(dir, "driver.js")
	if err := os.WriteFile(script, []byte(sdkDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OT_KEY="+testKey, "OT_SECRET="+testSecret, "OT_URL="+apiURL)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close() // node exits when its input ends
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	return &nodeSDK{t: t, in: in, out: sc}
}

// call runs an SDK call and decodes its result into result (if not nil);
// it returns the SDK's error text, empty on success.
func (n *nodeSDK) call(op string, args map[string]any, result any) string {
	n.t.Helper()
	n.n++
	req := map[string]any{"id": n.n, "op": op}
	for k, v := range args {
		req[k] = v
	}
	b, _ := json.Marshal(req)
	if _, err := fmt.Fprintf(n.in, "%s\n", b); err != nil {
		n.t.Fatalf("%s: %v", op, err)
	}
	lines := make(chan bool, 1)
	go func() { lines <- n.out.Scan() }()
	select {
	case ok := <-lines:
		if !ok {
			n.t.Fatalf("%s: the SDK's process ended: %v", op, n.out.Err())
		}
	case <-time.After(30 * time.Second):
		n.t.Fatalf("%s: no answer from the SDK within 30s", op)
	}
	var resp struct {
		ID     int
		Error  string
		Result json.RawMessage
	}
	if err := json.Unmarshal(n.out.Bytes(), &resp); err != nil || resp.ID != n.n {
		n.t.Fatalf("%s: answer %s: %v", op, n.out.Bytes(), err)
	}
	if resp.Error == "" && result != nil {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			n.t.Fatalf("%s: result %s: %v", op, resp.Result, err)
		}
	}
	return resp.Error
}

// must runs an SDK call that must succeed.
func (n *nodeSDK) must(op string, args map[string]any, result any) {
	n.t.Helper()
	if e := n.call(op, args, result); e != "" {
		n.t.Fatalf("%s: %s", op, e)
	}
}

// restHarness is a harness whose HTTP server also serves the REST API, at
// the prefix Handler is mounted on.
func restHarness(t *testing.T, cfg crossbar.Config) (*harness, string) {
	h := newHarness(t, cfg)
	return h, "http" + strings.TrimPrefix(strings.TrimSuffix(h.ws, "/ws"), "ws")
}

// connectWith connects a Go client with a token, with media on loopback.
func connectWith(t *testing.T, h *harness, token string) *client.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, h.ws, token, &client.Options{Media: client.MediaOptions{LoopbackOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect() })
	return c
}

// An app's server code on OpenTok's Node SDK, with only its API URL
// changed, creates a session and tokens for it (a JWT one and a legacy T1
// one), and moderates the Go clients that join with them: it lists their
// streams, sets their layout classes, signals them, mutes them and
// disconnects one.
func TestOpenTokNodeSDKDrivesCrossbar(t *testing.T) {
	h, apiURL := restHarness(t, crossbar.Config{})
	sdk := startNodeSDK(t, apiURL)
	ctx := context.Background()

	var sid, relayedID string
	sdk.must("createSession", map[string]any{"opts": map[string]any{"mediaMode": "routed", "location": "127.0.0.1"}}, &sid)
	sdk.must("createSession", map[string]any{"opts": map[string]any{}}, &relayedID)
	for id, want := range map[string]crossbar.MediaMode{sid: crossbar.Routed, relayedID: crossbar.Relayed} {
		s, err := h.srv.Session(ctx, id)
		if err != nil || s.MediaMode() != want {
			t.Fatalf("session %s: %v, %v; want %s", id, s, err, want)
		}
	}
	if s, _ := h.srv.Session(ctx, sid); s.Location() != "127.0.0.1" {
		t.Errorf("location %q", s.Location())
	}

	var aliceTok, bobTok string
	sdk.must("generateToken", map[string]any{"sessionId": sid, "opts": map[string]any{"data": "alice", "initialLayoutClassList": []string{"focus"}}}, &aliceTok)
	sdk.must("generateToken", map[string]any{"sessionId": sid, "opts": map[string]any{"data": "bob", "role": "moderator"}, "t1": true}, &bobTok)
	if !strings.HasPrefix(bobTok, "T1==") {
		t.Fatalf("the SDK made %q, not a T1 token", bobTok)
	}
	alice := connectWith(t, h, aliceTok)
	bob := connectWith(t, h, bobTok)
	if bob.Connection().Role != "moderator" || bob.Connection().Data != "bob" {
		t.Fatalf("bob connected as %+v", bob.Connection())
	}
	pub := synthesize(t, alice, "alice's camera")
	streamID := pub.StreamID()
	if ev := next(t, bob, signaling.TypeStreamCreated); ev.Stream.ID != streamID {
		t.Fatalf("bob saw %+v", ev.Stream)
	}

	type restStream struct {
		ID, VideoType, Name string
		LayoutClassList     []string
	}
	var list []restStream
	sdk.must("listStreams", map[string]any{"sessionId": sid}, &list)
	if len(list) != 1 || list[0].ID != streamID || list[0].Name != "alice's camera" || list[0].VideoType != "camera" ||
		!slices.Equal(list[0].LayoutClassList, []string{"focus"}) {
		t.Fatalf("listStreams: %+v", list)
	}
	sdk.must("setStreamClassLists", map[string]any{"sessionId": sid, "items": []any{map[string]any{"id": streamID, "layoutClassList": []string{"full", "main"}}}}, nil)
	var got restStream
	sdk.must("getStream", map[string]any{"sessionId": sid, "streamId": streamID}, &got)
	if !slices.Equal(got.LayoutClassList, []string{"full", "main"}) {
		t.Fatalf("getStream after setStreamClassLists: %+v", got)
	}
	if e := sdk.call("getStream", map[string]any{"sessionId": sid, "streamId": "nope"}, nil); e == "" {
		t.Error("getStream of an unknown stream succeeded")
	}

	// A signal to bob alone, then one to everyone: alice's first is the
	// second.
	bobID, aliceID := bob.Connection().ID, alice.Connection().ID
	sdk.must("signal", map[string]any{"sessionId": sid, "connectionId": bobID, "payload": map[string]any{"type": "note", "data": "for bob"}}, nil)
	sdk.must("signal", map[string]any{"sessionId": sid, "payload": map[string]any{"type": "chat", "data": "for all"}}, nil)
	for _, want := range []struct {
		c    *client.Session
		data string
	}{{bob, "for bob"}, {bob, "for all"}, {alice, "for all"}} {
		if ev := next(t, want.c, signaling.TypeSignal); ev.Signal.Data != want.data || ev.Signal.From != "" {
			t.Fatalf("%s got signal %+v, want %q from the server", want.c.Connection().Data, ev.Signal, want.data)
		}
	}
	if e := sdk.call("signal", map[string]any{"sessionId": sid, "connectionId": "nope", "payload": map[string]any{"data": "x"}}, nil); !strings.Contains(e, "not found") {
		t.Errorf("signal to an unknown connection: %q", e)
	}

	sdk.must("forceMuteStream", map[string]any{"sessionId": sid, "streamId": streamID}, nil)
	if ev := next(t, alice, signaling.TypeMuteForced); ev.Active == nil || !*ev.Active {
		t.Fatalf("alice got %+v", ev)
	}
	if ev := next(t, bob, signaling.TypeStreamPropertyChanged); ev.Change.Property != "hasAudio" || ev.Change.NewValue != false {
		t.Fatalf("bob saw %+v", ev.Change)
	}
	sdk.must("forceMuteAll", map[string]any{"sessionId": sid, "opts": map[string]any{"excludedStreamIds": []string{}}}, nil)
	if ev := next(t, bob, signaling.TypeMuteForced); ev.Active == nil || !*ev.Active {
		t.Fatalf("bob got %+v", ev)
	}
	sdk.must("disableForceMute", map[string]any{"sessionId": sid}, nil)
	if ev := next(t, bob, signaling.TypeMuteForced); ev.Active == nil || *ev.Active {
		t.Fatalf("bob got %+v", ev)
	}

	sdk.must("forceDisconnect", map[string]any{"sessionId": sid, "connectionId": aliceID}, nil)
	if ev := next(t, bob, signaling.TypeConnectionDestroyed); ev.Connection.ID != aliceID || ev.Reason != "forceDisconnected" {
		t.Fatalf("bob saw %+v, reason %s", ev.Connection, ev.Reason)
	}
	if e := sdk.call("forceDisconnect", map[string]any{"sessionId": sid, "connectionId": aliceID}, nil); !strings.Contains(e, "not found") {
		t.Errorf("forceDisconnect of a gone connection: %q", e)
	}
	sdk.must("listStreams", map[string]any{"sessionId": sid}, &list)
	if len(list) != 0 {
		t.Errorf("streams after alice left: %+v", list)
	}
}

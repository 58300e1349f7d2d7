package crossbar_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
	"github.com/crossbar-rtc/crossbar/internal/rtmptest"
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
  // Archives: the SDK's Archive objects are kept, and stopped and
  // deleted with their own methods.
  startArchive: (a, cb) => ot.startArchive(a.sessionId, a.opts, keep(cb)),
  getArchive: (a, cb) => ot.getArchive(a.archiveId, keep(cb)),
  listArchives: (a, cb) => ot.listArchives(a.opts, (err, items, count) => cb(err, items && { count, items })),
  stopArchive: (a, cb) => archives[a.archiveId].stop(keep(cb)),
  deleteArchive: (a, cb) => archives[a.archiveId].delete((err) => cb(err)),
  startBroadcast: (a, cb) => ot.startBroadcast(a.sessionId, a.opts, cb),
  getBroadcast: (a, cb) => ot.getBroadcast(a.broadcastId, cb),
  listBroadcasts: (a, cb) => ot.listBroadcasts(a.opts, (err, items, count) => cb(err, items && { count, items })),
  setBroadcastLayout: (a, cb) => ot.setBroadcastLayout(a.broadcastId, a.type, null, null, (err) => cb(err)),
  stopBroadcast: (a, cb) => ot.stopBroadcast(a.broadcastId, cb),
};
const archives = {};
const keep = (cb) => (err, archive) => {
  if (archive) archives[archive.id] = archive;
  cb(err, archive);
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

// restArchive is an archive as the Node SDK's Archive object has it.
type restArchive struct {
	ID, Status, Name, Reason, SessionID, OutputMode, StreamMode, Resolution string
	ProjectID                                                               int
	CreatedAt                                                               int64
	Size                                                                    int64
	Duration                                                                float64
	HasAudio, HasVideo                                                      bool
	URL                                                                     *string
	Streams                                                                 []any
}

// An app's server code on OpenTok's Node SDK records a session with a
// publisher: it starts an individual archive, gets it, lists it, stops it
// with the SDK's Archive object, reads its file, and deletes it.
func TestOpenTokNodeSDKArchives(t *testing.T) {
	dir := archive.Dir(t.TempDir())
	h, apiURL := restHarness(t, crossbar.Config{Archives: dir})
	sdk := startNodeSDK(t, apiURL)
	ctx := context.Background()

	var sid, alwaysID string
	sdk.must("createSession", map[string]any{"opts": map[string]any{"mediaMode": "routed"}}, &sid)
	sdk.must("createSession", map[string]any{"opts": map[string]any{"mediaMode": "routed", "archiveMode": "always"}}, &alwaysID)
	if s, err := h.srv.Session(ctx, alwaysID); err != nil || s.ArchiveMode() != crossbar.ArchiveModeAlways {
		t.Fatalf("session created in archive mode always: %v, %v", s, err)
	}
	s, err := h.srv.Session(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := publishTagged(t, h.mediaClient(s, h.ws, "pub", nil, client.Options{}), "pub")

	var composed restArchive
	sdk.must("startArchive", map[string]any{"sessionId": sid, "opts": map[string]any{"resolution": "1280x720"}}, &composed)
	if composed.Status != "started" || composed.OutputMode != "composed" || composed.Resolution != "1280x720" {
		t.Fatalf("startArchive composed (OpenTok's default): %+v", composed)
	}
	sdk.must("stopArchive", map[string]any{"archiveId": composed.ID}, &composed)
	if composed.Status != "stopped" {
		t.Fatalf("stopArchive composed: %+v", composed)
	}
	var a restArchive
	before := time.Now()
	sdk.must("startArchive", map[string]any{"sessionId": sid, "opts": map[string]any{"name": "interview", "outputMode": "individual"}}, &a)
	if a.Status != "started" || a.Name != "interview" || a.SessionID != sid || a.OutputMode != "individual" || a.StreamMode != "auto" ||
		!a.HasAudio || !a.HasVideo || a.URL != nil || a.ProjectID != 12345678 || a.Streams == nil ||
		a.CreatedAt < before.Add(-time.Second).UnixMilli() || a.CreatedAt > time.Now().UnixMilli() {
		t.Fatalf("startArchive: %+v", a)
	}
	if e := sdk.call("startArchive", map[string]any{"sessionId": sid, "opts": map[string]any{"outputMode": "individual"}}, nil); e == "" {
		t.Error("a second archive of the session started")
	}
	recordFor(t, h.srv, a.ID, 3*time.Second)
	var got restArchive
	sdk.must("getArchive", map[string]any{"archiveId": a.ID}, &got)
	if got.ID != a.ID || got.Status != "started" || got.Duration < 3 {
		t.Fatalf("getArchive while it records: %+v", got)
	}
	var list struct {
		Count int
		Items []restArchive
	}
	sdk.must("listArchives", map[string]any{"opts": map[string]any{"sessionId": sid}}, &list)
	if list.Count != 2 || len(list.Items) != 2 || list.Items[0].ID != a.ID || list.Items[1].ID != composed.ID {
		t.Fatalf("listArchives of the session (newest first): %+v", list)
	}
	sdk.must("listArchives", map[string]any{"opts": map[string]any{"sessionId": alwaysID}}, &list)
	if list.Count != 0 || len(list.Items) != 0 {
		t.Fatalf("listArchives of another session: %+v", list)
	}

	sdk.must("stopArchive", map[string]any{"archiveId": a.ID}, &got)
	if got.Status != "stopped" || got.Duration < 3 {
		t.Fatalf("stopArchive: %+v", got)
	}
	sdk.must("getArchive", map[string]any{"archiveId": a.ID}, &got)
	if got.Status != "available" || got.Size == 0 {
		t.Fatalf("getArchive after stop: %+v", got)
	}
	m := manifest(t, dir, a.ID)
	if len(m.Files) != 1 || m.Files[0].StreamID != pub.StreamID() {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	checkFlowed(t, dir, a.ID, m.Files[0])
	if e := sdk.call("stopArchive", map[string]any{"archiveId": a.ID}, nil); e == "" {
		t.Error("stopping a stopped archive succeeded")
	}

	sdk.must("deleteArchive", map[string]any{"archiveId": a.ID}, nil)
	if e := sdk.call("getArchive", map[string]any{"archiveId": a.ID}, nil); !strings.Contains(e, "not found") {
		t.Errorf("getArchive after delete: %q", e)
	}
	if _, err := os.Stat(dir.Path(a.ID, m.Files[0].Filename)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted archive's file: %v", err)
	}
}

// restBroadcast is OpenTok's broadcast JSON, as the Node SDK hands it on.
type restBroadcast struct {
	ID, SessionID, Status, Resolution, StreamMode string
	BroadcastURLs                                 struct {
		HLS  string
		RTMP []struct{ ID, ServerURL, StreamName, Status string }
	}
}

// An app's server code on OpenTok's Node SDK broadcasts a session to an
// RTMP server (nginx) and HLS: it starts the broadcast, finds its RTMP
// output live and the stream decoding there, lists it, changes its
// layout, and stops it.
func TestOpenTokNodeSDKBroadcasts(t *testing.T) {
	mediatest.Need(t)
	rtmp := rtmptest.Start(t)
	h, apiURL := restHarness(t, crossbar.Config{})
	sdk := startNodeSDK(t, apiURL)
	s := h.session()
	publishColour(t, h.mediaClient(s, h.ws, "red", nil, client.Options{}), "red", 320, 240)

	opts := map[string]any{"resolution": "640x480", "outputs": map[string]any{
		"hls":  map[string]any{},
		"rtmp": []map[string]any{{"id": "nginx", "serverUrl": rtmp.URL, "streamName": "sdk"}},
	}}
	var b restBroadcast
	sdk.must("startBroadcast", map[string]any{"sessionId": s.ID(), "opts": opts}, &b)
	if b.Status != "started" || b.SessionID != s.ID() || b.Resolution != "640x480" || b.StreamMode != "auto" ||
		!strings.HasSuffix(b.BroadcastURLs.HLS, "/broadcast/"+b.ID+"/hls/index.m3u8") || len(b.BroadcastURLs.RTMP) != 1 {
		t.Fatalf("startBroadcast: %+v", b)
	}
	if e := sdk.call("startBroadcast", map[string]any{"sessionId": s.ID(), "opts": opts}, nil); e == "" {
		t.Error("a second broadcast of the session started")
	}
	waitFor(t, 30*time.Second, "the RTMP output to be live", func() bool {
		sdk.must("getBroadcast", map[string]any{"broadcastId": b.ID}, &b)
		return b.BroadcastURLs.RTMP[0].Status == "live"
	})
	checkLive(t, capture(t, rtmp.URL+"/sdk", 2*time.Second, "sdk.flv"), 640, 480)

	var list struct {
		Count int
		Items []restBroadcast
	}
	sdk.must("listBroadcasts", map[string]any{"opts": map[string]any{"sessionId": s.ID()}}, &list)
	if list.Count != 1 || len(list.Items) != 1 || list.Items[0].ID != b.ID {
		t.Fatalf("listBroadcasts: %+v", list)
	}
	sdk.must("setBroadcastLayout", map[string]any{"broadcastId": b.ID, "type": "pip"}, nil)
	if got, err := h.srv.Broadcast(context.Background(), b.ID); err != nil || got.Layout.Type != "pip" {
		t.Fatalf("the layout after setBroadcastLayout: %+v, %v", got.Layout, err)
	}
	sdk.must("stopBroadcast", map[string]any{"broadcastId": b.ID}, &b)
	if b.Status != "stopped" {
		t.Fatalf("stopBroadcast: %+v", b)
	}
	if e := sdk.call("stopBroadcast", map[string]any{"broadcastId": b.ID}, nil); e == "" {
		t.Error("stopping a stopped broadcast succeeded")
	}
}

package crossbar_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// transcriptLines are what the tests' fixed transcript hears, one every
// transcriptLine of audio.
var transcriptLines = []string{"one small step", "for a man", "one giant leap", "for mankind"}

const transcriptLine = 200 * time.Millisecond

// countingSTT is the fixed transcript, wrapped to count the audio packets
// that reach its recognizers and the recognizers closed: the tests see
// that audio flowed, and that every recognizer ended.
type countingSTT struct {
	packets, opened, closed atomic.Int64
	mu                      sync.Mutex
	requests                []crossbar.CaptionsRequest
	// failAfter, if set, makes WriteAudio fail once that many packets
	// came.
	failAfter atomic.Int64
}

func (c *countingSTT) stt() crossbar.SpeechToText {
	fixed := crossbar.FixedTranscript(transcriptLines, transcriptLine)
	return func(ctx context.Context, r crossbar.CaptionsRequest, emit func(crossbar.Caption)) (crossbar.Recognizer, error) {
		if r.LanguageCode == "xx-XX" {
			return nil, errors.New("language xx-XX unknown")
		}
		rec, err := fixed(ctx, r, emit)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.requests = append(c.requests, r)
		c.mu.Unlock()
		c.opened.Add(1)
		return &countingRecognizer{Recognizer: rec, c: c}, nil
	}
}

type countingRecognizer struct {
	crossbar.Recognizer
	c *countingSTT
}

func (r *countingRecognizer) WriteAudio(p crossbar.AudioPacket) error {
	if n, max := r.c.packets.Add(1), r.c.failAfter.Load(); max > 0 && n > max {
		return errors.New("recognizer lost its engine")
	}
	return r.Recognizer.WriteAudio(p)
}

func (r *countingRecognizer) Close() error {
	r.c.closed.Add(1)
	return r.Recognizer.Close()
}

// publishSpeech publishes a Go client's synthetic Opus audio, with
// captions or not, until the test ends; its stream is created once media
// came.
func publishSpeech(t *testing.T, c *client.Session, captions bool) *client.Publisher {
	t.Helper()
	pub := synthesizeWith(t, c, client.PublishOptions{Name: "speaker", Audio: true, Captions: captions})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pub.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	return pub
}

// nextCaption returns the client's next caption event.
func nextCaption(t *testing.T, c *client.Session) *signaling.Caption {
	t.Helper()
	ev := nextWithin(t, c, 10*time.Second, signaling.TypeCaption)
	if ev.Caption == nil {
		t.Fatalf("caption event without a caption: %+v", ev)
	}
	return ev.Caption
}

// quiet checks that c gets no caption after the ones already on their
// way: a signal from the host, sent now, comes after them; then nothing
// more for a second. strict: none before the signal either.
func quiet(t *testing.T, s *crossbar.Session, c *client.Session, why string, strict bool) {
	t.Helper()
	if err := s.Signal(crossbar.SignalOptions{To: c.Connection().ID, Type: "mark", Data: why}); err != nil {
		t.Fatal(err)
	}
	for {
		ev := nextWithin(t, c, 10*time.Second, signaling.TypeSignal, signaling.TypeCaption)
		if ev.Type == signaling.TypeCaption && strict {
			t.Fatalf("%s: caption %+v", why, ev.Caption)
		}
		if ev.Signal != nil && ev.Signal.Data == why {
			break
		}
	}
	none(t, c, time.Second, signaling.TypeCaption)
}

// TestCaptionsGoClient: a Go client publishes audio with captions; while
// the session has captions, the client subscribed to them gets the fixed
// transcript's lines in order, timed by the audio that reached the
// recognizer; the one that did not ask gets none; turning captions off,
// on either side, or stopping them, stops them.
func TestCaptionsGoClient(t *testing.T) {
	stt := &countingSTT{}
	h := newHarness(t, crossbar.Config{Captions: stt.stt()})
	s := h.session()
	var stopped = make(chan crossbar.Captions, 1)
	s.OnCaptionsStopped(func(c crossbar.Captions) { stopped <- c })
	pubC := h.connect(s, crossbar.RolePublisher, "speaker")
	reader := h.connect(s, crossbar.RoleSubscriber, "reader")
	deaf := h.connect(s, crossbar.RoleSubscriber, "other")
	pub := publishSpeech(t, pubC, true)
	ctx := context.Background()
	sub, err := reader.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Captions: true})
	if err != nil {
		t.Fatal(err)
	}
	if !sub.SubscribedToCaptions() {
		t.Error("SubscribedToCaptions is false after subscribing with captions")
	}
	if _, err := deaf.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stream(pub.StreamID()); st == nil || !st.HasCaptions() {
		t.Fatal("the stream published with captions does not have them")
	}

	captions, err := h.srv.StartCaptions(ctx, s.ID(), crossbar.CaptionsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.StartCaptions(ctx, s.ID(), crossbar.CaptionsOptions{}); !errors.Is(err, crossbar.ErrCaptionsConflict) {
		t.Errorf("captions started twice: %v, want ErrCaptionsConflict", err)
	}
	for i, want := range transcriptLines {
		c := nextCaption(t, reader)
		start := int64(i) * transcriptLine.Milliseconds()
		if c.Text != want || !c.Final || c.Start != start || c.End != start+transcriptLine.Milliseconds() {
			t.Fatalf("caption %d is %+v, want %q final from %d ms", i, c, want, start)
		}
	}
	// Four lines of 200 ms need 800 ms of audio: 40 Opus packets of 20 ms.
	if n := stt.packets.Load(); n < 40 {
		t.Errorf("the recognizer got %d audio packets for 800 ms of captions, want at least 40", n)
	}
	stt.mu.Lock()
	req := stt.requests[0]
	stt.mu.Unlock()
	if req.StreamID != pub.StreamID() || req.SessionID != s.ID() || req.LanguageCode != "en-US" || req.MimeType != "audio/opus" || req.ClockRate != 48000 {
		t.Errorf("recognizer request %+v", req)
	}
	quiet(t, s, deaf, "not subscribed to captions", true)

	// The publisher stops publishing captions: they stop, its recognizer
	// closes; back on, a new one starts from the first line.
	if err := pub.PublishCaptions(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the recognizer to close", func() bool { return stt.closed.Load() == 1 })
	quiet(t, s, reader, "publisher off", false)
	if err := pub.PublishCaptions(ctx, true); err != nil {
		t.Fatal(err)
	}
	if c := nextCaption(t, reader); c.Text != transcriptLines[0] || c.Start != 0 {
		t.Errorf("first caption after publishCaptions(true): %+v, want %q from 0", c, transcriptLines[0])
	}

	// The subscriber stops receiving them; the stream is still
	// transcribed.
	if err := sub.SubscribeToCaptions(ctx, false); err != nil {
		t.Fatal(err)
	}
	if sub.SubscribedToCaptions() {
		t.Error("SubscribedToCaptions is true after SubscribeToCaptions(false)")
	}
	quiet(t, s, reader, "subscriber off", false)
	if n := stt.opened.Load() - stt.closed.Load(); n != 1 {
		t.Errorf("%d recognizers open, want 1", n)
	}
	if err := sub.SubscribeToCaptions(ctx, true); err != nil {
		t.Fatal(err)
	}
	nextCaption(t, reader)

	// The host stops them.
	got, err := h.srv.StopCaptions(ctx, captions.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != crossbar.CaptionsStopped || stt.opened.Load() != stt.closed.Load() {
		t.Errorf("stopped: %+v, %d recognizers opened, %d closed", got, stt.opened.Load(), stt.closed.Load())
	}
	quiet(t, s, reader, "stopped", false)
	if c := <-stopped; c.ID != captions.ID || c.Status != crossbar.CaptionsStopped {
		t.Errorf("OnCaptionsStopped: %+v", c)
	}
	if _, err := h.srv.StopCaptions(ctx, captions.ID); !errors.Is(err, crossbar.ErrCaptionsNotFound) {
		t.Errorf("captions stopped twice: %v, want ErrCaptionsNotFound", err)
	}
}

// TestCaptionsBadInput: what StartCaptions and StopCaptions refuse, and
// a recognizer that fails: the captions fail, the host hears of it, and
// the session may start them again.
func TestCaptionsBadInput(t *testing.T) {
	ctx := context.Background()
	plain := newHarness(t, crossbar.Config{})
	if _, err := plain.srv.StartCaptions(ctx, plain.session().ID(), crossbar.CaptionsOptions{}); !errors.Is(err, crossbar.ErrNotSupported) {
		t.Errorf("captions without Config.Captions: %v, want ErrNotSupported", err)
	}

	stt := &countingSTT{}
	stt.failAfter.Store(100)
	h := newHarness(t, crossbar.Config{Captions: stt.stt()})
	s := h.session()
	for _, c := range []struct {
		session string
		opts    crossbar.CaptionsOptions
		want    error
	}{
		{"nope", crossbar.CaptionsOptions{}, crossbar.ErrInvalidSessionID},
		{s.ID(), crossbar.CaptionsOptions{MaxDuration: time.Minute}, crossbar.ErrInvalidOption},
		{s.ID(), crossbar.CaptionsOptions{MaxDuration: 5 * time.Hour}, crossbar.ErrInvalidOption},
	} {
		if _, err := h.srv.StartCaptions(ctx, c.session, c.opts); !errors.Is(err, c.want) {
			t.Errorf("StartCaptions(%q, %+v): %v, want %v", c.session, c.opts, err, c.want)
		}
	}
	gone, err := h.srv.CreateSession(ctx, crossbar.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = gone.Close()
	if _, err := h.srv.StartCaptions(ctx, gone.ID(), crossbar.CaptionsOptions{}); !errors.Is(err, crossbar.ErrSessionNotFound) {
		t.Errorf("captions of a closed session: %v, want ErrSessionNotFound", err)
	}
	relayed, err := h.srv.CreateSession(ctx, crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.StartCaptions(ctx, relayed.ID(), crossbar.CaptionsOptions{}); !errors.Is(err, crossbar.ErrCaptionsConflict) {
		t.Errorf("captions of a relayed session: %v, want ErrCaptionsConflict", err)
	}
	if _, err := h.srv.StopCaptions(ctx, "nope"); !errors.Is(err, crossbar.ErrCaptionsNotFound) {
		t.Errorf("StopCaptions of unknown captions: %v, want ErrCaptionsNotFound", err)
	}

	stopped := make(chan crossbar.Captions, 3)
	s.OnCaptionsStopped(func(c crossbar.Captions) { stopped <- c })
	pub := publishSpeech(t, h.connect(s, crossbar.RolePublisher, "speaker"), true)
	reader := h.connect(s, crossbar.RoleSubscriber, "reader")
	if _, err := reader.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Captions: true}); err != nil {
		t.Fatal(err)
	}
	failed := func(what string) crossbar.Captions {
		t.Helper()
		select {
		case c := <-stopped:
			if c.Status != crossbar.CaptionsFailed || !strings.Contains(c.Reason, what) {
				t.Errorf("captions ended %+v, want failed for %q", c, what)
			}
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("the captions did not fail for %s", what)
		}
		return crossbar.Captions{}
	}
	// The engine refuses the stream.
	if _, err := h.srv.StartCaptions(ctx, s.ID(), crossbar.CaptionsOptions{LanguageCode: "xx-XX"}); err != nil {
		t.Fatal(err)
	}
	failed("language xx-XX unknown")
	// The recognizer fails after 100 packets (2 s): captions came until
	// then, and not after.
	c, err := h.srv.StartCaptions(ctx, s.ID(), crossbar.CaptionsOptions{})
	if err != nil {
		t.Fatalf("captions started again after a failure: %v", err)
	}
	if got := nextCaption(t, reader); got.Text != transcriptLines[0] {
		t.Errorf("first caption %+v", got)
	}
	if f := failed("recognizer lost its engine"); f.ID != c.ID {
		t.Errorf("failed captions %s, want %s", f.ID, c.ID)
	}
	waitFor(t, 5*time.Second, "the recognizer to close", func() bool { return stt.closed.Load() == stt.opened.Load() })
	quiet(t, s, reader, "failed", false)
	if _, err := h.srv.StopCaptions(ctx, c.ID); !errors.Is(err, crossbar.ErrCaptionsNotFound) {
		t.Errorf("StopCaptions of failed captions: %v, want ErrCaptionsNotFound", err)
	}

	// Captions end with their session.
	stt.failAfter.Store(0)
	if _, err := h.srv.StartCaptions(ctx, s.ID(), crossbar.CaptionsOptions{}); err != nil {
		t.Fatal(err)
	}
	nextCaption(t, reader)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-stopped:
		if c.Status != crossbar.CaptionsStopped || c.Reason != "sessionClosed" {
			t.Errorf("captions of a closed session ended %+v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the captions did not stop with their session")
	}
	waitFor(t, 5*time.Second, "every recognizer to close", func() bool { return stt.closed.Load() == stt.opened.Load() })
}

// TestFixedTranscript: the offline recognizer emits its lines as the
// audio's timestamps pass, across their wrap, with partial captions when
// asked, ignoring a packet that comes late.
func TestFixedTranscript(t *testing.T) {
	var got []crossbar.Caption
	rec, err := crossbar.FixedTranscript([]string{"one two three", "four"}, time.Second)(context.Background(),
		crossbar.CaptionsRequest{PartialCaptions: true, ClockRate: 48000}, func(c crossbar.Caption) { got = append(got, c) })
	if err != nil {
		t.Fatal(err)
	}
	ts := uint32(1<<32 - 48000) // wraps after 1 s
	for i := range 150 {        // 3 s of 20 ms packets
		if err := rec.WriteAudio(crossbar.AudioPacket{Timestamp: ts, SequenceNumber: uint16(i), Payload: []byte{0xf8}}); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			_ = rec.WriteAudio(crossbar.AudioPacket{Timestamp: ts - 960*5}) // late
		}
		ts += 960
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	want := []crossbar.Caption{
		{Text: "one two", Start: 0, End: 500 * time.Millisecond},
		{Text: "one two three", Start: 0, End: time.Second, Final: true},
		{Text: "four", Start: time.Second, End: 1500 * time.Millisecond},
		{Text: "four", Start: time.Second, End: 2 * time.Second, Final: true},
		{Text: "one two", Start: 2 * time.Second, End: 2500 * time.Millisecond},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("captions\n%v\nwant\n%v", got, want)
	}
	if _, err := crossbar.FixedTranscript(nil, time.Second)(context.Background(), crossbar.CaptionsRequest{}, func(crossbar.Caption) {}); err == nil {
		t.Error("a fixed transcript without lines made a recognizer")
	}
}

// TestRESTCaptions: OpenTok's REST calls start and stop live captions,
// with OpenTok's statuses; partial captions are on unless the body says
// otherwise, as OpenTok's.
func TestRESTCaptions(t *testing.T) {
	stt := &countingSTT{}
	rc := newReceiver(t, ok200)
	// No webhook URL: the secret signs the captions' status callbacks.
	h, api := restHarness(t, crossbar.Config{Captions: stt.stt(), Webhook: crossbar.WebhookConfig{Secret: hookSecret}})
	s := h.session()
	pub := publishSpeech(t, h.connect(s, crossbar.RolePublisher, "speaker"), true)
	reader := h.connect(s, crossbar.RoleSubscriber, "reader")
	if _, err := reader.Subscribe(context.Background(), pub.StreamID(), client.SubscribeOptions{Audio: true, Captions: true}); err != nil {
		t.Fatal(err)
	}
	ok := func() string { return restJWT(t, testSecret, nil) }
	captions := api + "/v2/project/" + testKey + "/captions"
	start := func(sessionID string, role crossbar.Role, extra string) (int, string) {
		return restCall(t, "POST", captions, ok(), fmt.Sprintf(`{"sessionId":%q,"token":%q%s}`, sessionID, h.token(s, role, "captioner"), extra))
	}
	for _, c := range []struct {
		name        string
		role        crossbar.Role
		extra       string
		status      int
		sessionOfID string
	}{
		{"a publisher's token", crossbar.RolePublisher, "", 400, s.ID()},
		{"another session's token", crossbar.RoleModerator, "", 400, h.session().ID()},
		{"max duration under 5 min", crossbar.RoleModerator, `,"maxDuration":60`, 400, s.ID()},
		{"a status callback URL that is not http(s)", crossbar.RoleModerator, `,"statusCallbackUrl":"ftp://127.0.0.1/x"`, 400, s.ID()},
	} {
		if status, body := start(c.sessionOfID, c.role, c.extra); status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.status)
		}
	}
	status, body := start(s.ID(), crossbar.RoleModerator, `,"languageCode":"en-GB","maxDuration":300,"statusCallbackUrl":"`+rc.url+`"`)
	var started struct{ CaptionsID string }
	if err := json.Unmarshal([]byte(body), &started); err != nil || status != http.StatusAccepted || started.CaptionsID == "" {
		t.Fatalf("start captions: %d %s", status, body)
	}
	if d := rc.wait(1)[0]; d.CaptionID != started.CaptionsID || d.SessionID != s.ID() || d.Status != "started" || d.Group != "captions" || d.LanguageCode != "en-GB" {
		t.Errorf("status callback at the start: %+v", d)
	}
	if status, body := start(s.ID(), crossbar.RoleModerator, ""); status != http.StatusConflict {
		t.Errorf("captions started twice: %d %s, want 409", status, body)
	}
	if c := nextCaption(t, reader); c.Final || c.Text != "one small" {
		t.Errorf("first caption %+v, want the partial %q", c, "one small")
	}
	stt.mu.Lock()
	lang := stt.requests[0].LanguageCode
	stt.mu.Unlock()
	if lang != "en-GB" {
		t.Errorf("language %q, want en-GB", lang)
	}
	stop := captions + "/" + started.CaptionsID + "/stop"
	if status, body := restCall(t, "POST", stop, ok(), ``); status != http.StatusAccepted {
		t.Fatalf("stop captions: %d %s", status, body)
	}
	if stt.opened.Load() != stt.closed.Load() {
		t.Errorf("%d recognizers opened, %d closed once the captions stopped", stt.opened.Load(), stt.closed.Load())
	}
	if d := rc.wait(2)[1]; d.CaptionID != started.CaptionsID || d.Status != "stopped" {
		t.Errorf("status callback at the stop: %+v", d)
	}
	if status, body := restCall(t, "POST", stop, ok(), ``); status != http.StatusNotFound {
		t.Errorf("captions stopped twice: %d %s, want 404", status, body)
	}

	_, plain := restHarness(t, crossbar.Config{})
	if status, body := restCall(t, "POST", plain+"/v2/project/"+testKey+"/captions", ok(), `{}`); status != http.StatusBadRequest {
		t.Errorf("no token: %d %s, want 400", status, body)
	}
	body = fmt.Sprintf(`{"sessionId":%q,"token":%q}`, s.ID(), h.token(s, crossbar.RoleModerator, "captioner"))
	if status, body := restCall(t, "POST", plain+"/v2/project/"+testKey+"/captions", ok(), body); status != http.StatusNotImplemented {
		t.Errorf("a server without speech to text: %d %s, want 501", status, body)
	}
}

// TestClusterCaptions: the captions run on the node whose host started
// them; a stream published on another node is transcribed there, over
// the node link, and subscribers on either node get its captions.
func TestClusterCaptions(t *testing.T) {
	stt := &countingSTT{}
	_, nodes := newCluster(t, 2, crossbar.Config{Captions: stt.stt()})
	s := nodes[0].session()
	pub := publishSpeech(t, nodes[1].connect(s, crossbar.RolePublisher, "speaker"), true)
	var readers []*client.Session
	for i, n := range nodes {
		r := n.connect(s, crossbar.RoleSubscriber, fmt.Sprint("reader ", i))
		for next(t, r, signaling.TypeStreamCreated).Stream.ID != pub.StreamID() {
		}
		if _, err := r.Subscribe(context.Background(), pub.StreamID(), client.SubscribeOptions{Audio: true, Captions: true}); err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	st, err := nodes[0].on(t, s).Stream(pub.StreamID())
	if err != nil || !st.HasCaptions() {
		t.Fatalf("node 1 does not see node 2's stream with captions: %v", err)
	}
	if _, err := nodes[0].srv.StartCaptions(context.Background(), s.ID(), crossbar.CaptionsOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, r := range readers {
		for j, want := range transcriptLines {
			if c := nextCaption(t, r); c.Text != want {
				t.Fatalf("reader on node %d: caption %d is %q, want %q", i+1, j, c.Text, want)
			}
		}
	}
	if err := pub.PublishCaptions(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "node 1 to close the recognizer", func() bool { return stt.closed.Load() == 1 })
}

// Captions stop after their MaxDuration, as OpenTok's do.
func TestCaptionsMaxDuration(t *testing.T) {
	clock := crossbartest.NewClock(time.Now())
	h := newHarness(t, crossbar.Config{Clock: clock, Captions: (&countingSTT{}).stt()})
	s := h.session()
	stopped := make(chan crossbar.Captions, 1)
	s.OnCaptionsStopped(func(c crossbar.Captions) { stopped <- c })
	ctx := context.Background()
	c, err := h.srv.StartCaptions(ctx, s.ID(), crossbar.CaptionsOptions{MaxDuration: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10*time.Minute - time.Second)
	if _, err := h.srv.StartCaptions(ctx, s.ID(), crossbar.CaptionsOptions{}); !errors.Is(err, crossbar.ErrCaptionsConflict) {
		t.Fatalf("before the limit: %v, want the captions still running", err)
	}
	clock.Advance(time.Second)
	select {
	case got := <-stopped:
		if got.ID != c.ID || got.Status != crossbar.CaptionsStopped || got.Reason != "maxDuration" {
			t.Errorf("after the limit: %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the captions did not stop at their MaxDuration")
	}
}

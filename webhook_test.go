package crossbar_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

const hookSecret = "webhook-signing-secret"

// delivery is a webhook request a receiver got.
type delivery struct {
	Event     string
	SessionID string
	ProjectID json.Number // a string in session monitoring, a number in archive callbacks
	// An archive or broadcast callback's.
	ID, Name, Status, OutputMode string
	// A captions status callback's.
	CaptionID, Group, LanguageCode string
	Size                           int64
	Duration                       float64
	URL                            *string
	Reason                         string
	BroadcastURLs                  struct{ HLS string }
	Timestamp                      int64
	Connection                     *struct {
		ID, Data  string
		CreatedAt int64
	}
	Stream *struct {
		ID, Name, VideoType string
		Connection          struct{ ID, Data string }
	}
}

// receiver is a real HTTP server on loopback that takes webhook
// deliveries: answer says what to answer each (by its number, from 1).
type receiver struct {
	t       *testing.T
	url     string
	mu      sync.Mutex
	got     []delivery
	arrived chan struct{}
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{t: t, arrived: make(chan struct{}, 1000)}
	n := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := crossbar.VerifyWebhook(r, body, hookSecret); err != nil {
			t.Errorf("delivery %s: %v", body, err)
		}
		checkSignature(t, r, body)
		var d delivery
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("delivery %s: %v", body, err)
		}
		rc.mu.Lock()
		n++
		i := n
		rc.got = append(rc.got, d)
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
		answer(i, w, r)
	}))
	t.Cleanup(hs.Close)
	rc.url = hs.URL + "/hook"
	return rc
}

// checkSignature checks a delivery's signature as a receiver without
// Crossbar's help would: a JWT signed with the secret, whose payload_hash
// is the body's SHA-256.
func checkSignature(t *testing.T, r *http.Request, body []byte) {
	raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(hookSecret), nil }, jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Errorf("signature: %v", err)
		return
	}
	sum := sha256.Sum256(body)
	if claims["payload_hash"] != hex.EncodeToString(sum[:]) {
		t.Errorf("payload_hash %v is not the body's", claims["payload_hash"])
	}
}

// wait waits for n deliveries and returns them all.
func (rc *receiver) wait(n int) []delivery {
	rc.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		rc.mu.Lock()
		got := append([]delivery(nil), rc.got...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-rc.arrived:
		case <-timeout:
			rc.t.Fatalf("%d deliveries within 20s, want %d", len(got), n)
		}
	}
}

func ok200(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

// A receiver gets OpenTok's session-monitoring JSON, signed, for the
// connections and streams that come and go.
func TestWebhookDeliversSessionMonitoring(t *testing.T) {
	rc := newReceiver(t, ok200)
	h := newHarness(t, crossbar.Config{Webhook: crossbar.WebhookConfig{URL: rc.url, Secret: hookSecret}})
	s := h.session()
	c := h.connect(s, crossbar.RolePublisher, "ann")
	annID := c.Connection().ID
	c.Disconnect()
	waitFor(t, 5*time.Second, "ann gone", func() bool { return len(s.Connections()) == 0 })
	pub, err := s.Publish(crossbar.PublishOptions{Name: "bot", ConnectionData: "bot", Audio: opus})
	if err != nil {
		t.Fatal(err)
	}
	pub.Unpublish()
	got := rc.wait(6)
	var events []string
	for _, d := range got {
		events = append(events, d.Event+":"+d.Reason)
		if d.SessionID != s.ID() || d.ProjectID.String() != testKey || d.Timestamp == 0 {
			t.Errorf("delivery %+v", d)
		}
	}
	want := []string{"connectionCreated:", "connectionDestroyed:clientDisconnected", "connectionCreated:",
		"streamCreated:", "streamDestroyed:clientUnpublished", "connectionDestroyed:clientDisconnected"}
	if strings.Join(events, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", events, want)
	}
	if d := got[0]; d.Connection == nil || d.Connection.Data != "ann" || d.Connection.ID != annID || d.Connection.CreatedAt == 0 {
		t.Errorf("connectionCreated %+v", d.Connection)
	}
	if d := got[3]; d.Stream == nil || d.Stream.Name != "bot" || d.Stream.Connection.Data != "bot" || d.Stream.ID != pub.Stream().ID() {
		t.Errorf("streamCreated %+v", d.Stream)
	}
	waitFor(t, 5*time.Second, "6 delivered", func() bool { return h.srv.WebhookStats().Delivered == 6 })
	if st := h.srv.WebhookStats(); st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A delivery answered 500 is tried again, with backoff, until it is
// answered 2xx; one answered 400 is not.
func TestWebhookRetriesOnServerErrors(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1, 2:
			w.WriteHeader(http.StatusInternalServerError)
		case 4:
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	const backoff = 50 * time.Millisecond
	h := newHarness(t, crossbar.Config{Webhook: crossbar.WebhookConfig{URL: rc.url, Secret: hookSecret, Backoff: backoff}})
	s := h.session()
	c := h.connect(s, crossbar.RolePublisher, "ann")
	got := rc.wait(3)
	for _, d := range got {
		if d.Event != "connectionCreated" || d.Connection.ID != c.Connection().ID {
			t.Fatalf("attempt %+v, want ann's connectionCreated again", d)
		}
	}
	c.Disconnect()
	got = rc.wait(4)
	if got[3].Event != "connectionDestroyed" {
		t.Fatalf("%+v", got[3])
	}
	h.connect(s, crossbar.RolePublisher, "bob")
	got = rc.wait(5)
	if got[4].Event != "connectionCreated" || got[4].Connection.Data != "bob" {
		t.Fatalf("after a 400, the next delivery is %+v, want bob's connectionCreated", got[4])
	}
	waitFor(t, 5*time.Second, "2 delivered (after retries) and 1 refused", func() bool {
		st := h.srv.WebhookStats()
		return st.Delivered == 2 && st.Failed == 1
	})
}

// A receiver that never answers delays nothing: clients connect and leave
// at their pace, events beyond the queue are dropped and counted, and
// Close gives up on the queue after the timeout.
func TestWebhookHangingReceiverBlocksNothing(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	const timeout = 500 * time.Millisecond
	cfg := crossbar.Config{Webhook: crossbar.WebhookConfig{URL: rc.url, Secret: hookSecret, Timeout: timeout, QueueSize: 4}}
	cfg.APIKey, cfg.APISecret = testKey, testSecret
	cfg.Media.LoopbackOnly = true
	srv, err := crossbar.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", srv.Handler())
	hs := httptest.NewServer(mux)
	defer hs.Close()
	h := &harness{t: t, srv: srv, ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/crossbar/ws"}
	s, _ := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	start := time.Now()
	for i := range 10 {
		c := h.connect(s, crossbar.RolePublisher, "guest")
		if err := c.Disconnect(); err != nil {
			t.Fatalf("guest %d: %v", i, err)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("10 guests took %v", took)
	}
	rc.wait(1)
	waitFor(t, 5*time.Second, "drops counted", func() bool { return srv.WebhookStats().Dropped > 0 })
	begin := time.Now()
	srv.Close()
	if took := time.Since(begin); took > timeout+2*time.Second {
		t.Errorf("Close took %v with a hanging receiver, want about %v", took, timeout)
	}
	st := srv.WebhookStats()
	t.Logf("20 events, queue of 4, receiver hanging: %+v", st)
	if st.Delivered != 0 || st.Dropped+st.Failed != 20 {
		t.Errorf("stats %+v, want the 20 events failed or dropped", st)
	}
}

// statuses returns the statuses the callbacks of event ("archive",
// "broadcast") told of the archive or broadcast id, in order.
func (rc *receiver) statuses(event, id string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var statuses []string
	for _, d := range rc.got {
		if d.Event == event && d.ID == id {
			statuses = append(statuses, d.Status)
		}
	}
	return statuses
}

// A receiver gets OpenTok's archive status callbacks, signed, each time
// an archive's status changes: started, paused while nobody publishes,
// started again when someone does, stopped, then available with its size.
func TestWebhookArchiveStatus(t *testing.T) {
	rc := newReceiver(t, ok200)
	h, _ := archiveHarness(t, crossbar.Config{Webhook: crossbar.WebhookConfig{URL: rc.url, Secret: hookSecret}})
	s := h.session()
	ctx := context.Background()
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{Name: "hooked"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"started", "paused"}
	until := func(statuses ...string) {
		t.Helper()
		want = append(want, statuses...)
		waitFor(t, 20*time.Second, fmt.Sprintf("archive callbacks %v", want), func() bool {
			return slices.Equal(rc.statuses("archive", a.ID), want)
		})
	}
	until()
	_, stop := publishTagged(t, h.mediaClient(s, h.ws, "pub", nil, client.Options{}), "pub")
	until("started")
	recordFor(t, h.srv, a.ID, 2*time.Second)
	stop()
	until("paused")
	if _, err := h.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	until("stopped", "available")

	var last delivery
	for _, d := range rc.wait(0) {
		if d.Event == "archive" {
			if d.SessionID != s.ID() || d.ProjectID.String() != testKey || d.Name != "hooked" || d.OutputMode != "individual" || d.URL != nil {
				t.Errorf("archive callback %+v", d)
			}
			last = d
		}
	}
	if last.Size == 0 || last.Duration < 2 {
		t.Errorf("the available archive's callback: %+v, want its size and duration", last)
	}
}

// A receiver slow to answer for one session does not hold back the
// events of others: sessions are delivered side by side (the five others
// all share the slow one's lane 1 time in 8^5), each in order.
func TestWebhookSessionsDoNotWaitForEachOther(t *testing.T) {
	release := make(chan struct{})
	var slowID atomic.Value // string
	var rc *receiver
	rc = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		sid := rc.got[n-1].SessionID
		rc.mu.Unlock()
		if sid == slowID.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	h := newHarness(t, crossbar.Config{Webhook: crossbar.WebhookConfig{URL: rc.url, Secret: hookSecret, Timeout: time.Minute}})
	slow := h.session()
	slowID.Store(slow.ID())
	c := h.connect(slow, crossbar.RolePublisher, "slow")
	rc.wait(1) // its connectionCreated hangs
	c.Disconnect()
	others := map[string]bool{}
	for range 5 {
		s := h.session()
		others[s.ID()] = true
		h.connect(s, crossbar.RolePublisher, "other")
	}
	for n := 2; ; n++ {
		if got := rc.wait(n); others[got[n-1].SessionID] {
			break
		}
	}
	free()
	for n := 2; ; n++ {
		var events []string
		for _, d := range rc.wait(n) {
			if d.SessionID == slow.ID() {
				events = append(events, d.Event)
			}
		}
		if len(events) == 2 {
			if !slices.Equal(events, []string{"connectionCreated", "connectionDestroyed"}) {
				t.Errorf("the slow session's events: %q", events)
			}
			return
		}
	}
}

// A receiver gets OpenTok's broadcast status callbacks, signed: started
// and stopped, and failed with the reason for a broadcast whose only
// RTMP server refuses it.
func TestWebhookBroadcastStatus(t *testing.T) {
	mediatest.Need(t)
	rc := newReceiver(t, ok200)
	h := newHarness(t, crossbar.Config{Webhook: crossbar.WebhookConfig{URL: rc.url, Secret: hookSecret}})
	s := h.session()
	ctx := context.Background()
	until := func(id string, want ...string) {
		t.Helper()
		waitFor(t, 30*time.Second, fmt.Sprintf("broadcast callbacks %v", want), func() bool {
			return slices.Equal(rc.statuses("broadcast", id), want)
		})
	}
	hls, err := h.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{HLS: &crossbar.HLSOptions{}}})
	if err != nil {
		t.Fatal(err)
	}
	until(hls.ID, "started")
	if _, err := h.srv.StopBroadcast(ctx, hls.ID); err != nil {
		t.Fatal(err)
	}
	until(hls.ID, "started", "stopped")

	refused, err := h.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{
		RTMP: []crossbar.RTMPOutput{{ServerURL: refusingRTMP(t), StreamName: "s"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	until(refused.ID, "started", "failed")
	for _, d := range rc.wait(0) {
		if d.Event != "broadcast" {
			continue
		}
		if d.SessionID != s.ID() || d.ProjectID.String() != testKey {
			t.Errorf("broadcast callback %+v", d)
		}
		if d.ID == hls.ID && d.BroadcastURLs.HLS != hls.HLSURL {
			t.Errorf("the HLS broadcast's callback: %+v, want its playlist at %s", d, hls.HLSURL)
		}
		if d.Status == "failed" && !strings.Contains(d.Reason, "every output failed") {
			t.Errorf("the failed broadcast's callback: %+v, want its reason", d)
		}
	}
}

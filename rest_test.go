package crossbar_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// restJWT signs a REST call's JWT with claims over OpenTok's defaults.
func restJWT(t testing.TB, secret string, change func(jwt.MapClaims)) string {
	now := time.Now()
	c := jwt.MapClaims{"iss": testKey, "ist": "project", "iat": now.Unix(), "exp": now.Add(3 * time.Minute).Unix()}
	if change != nil {
		change(c)
	}
	return sign(t, jwt.SigningMethodHS256, []byte(secret), c)
}

// restCall makes a REST call and returns its status and body.
func restCall(t testing.TB, method, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("X-OPENTOK-AUTH", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Bad REST calls get OpenTok's statuses and a JSON body that says what was
// wrong, and leave the session's clients alone.
func TestRESTBadInput(t *testing.T) {
	h, api := restHarness(t, crossbar.Config{})
	s := h.session()
	watcher := h.connect(s, crossbar.RolePublisher, "watcher")
	base := api + "/v2/project/" + testKey + "/session/" + s.ID()
	ok := func() string { return restJWT(t, testSecret, nil) }
	jti := restJWT(t, testSecret, func(c jwt.MapClaims) { c["jti"] = "call-1" })
	if code, body := restCall(t, "POST", base+"/signal", jti, `{"type":"a","data":"first"}`); code != http.StatusNoContent {
		t.Fatalf("a call with a jti: %d %s", code, body)
	}
	next(t, watcher, signaling.TypeSignal)

	cases := []struct {
		name, method, url, auth, body string
		status, code                  int
	}{
		{"no JWT", "POST", base + "/signal", "", `{}`, 403, -1},
		{"wrong secret", "POST", base + "/signal", restJWT(t, "another-secret-of-16+", nil), `{}`, 403, -1},
		{"expired JWT", "POST", base + "/signal", restJWT(t, testSecret, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), `{}`, 403, -1},
		{"JWT for an hour", "POST", base + "/signal", restJWT(t, testSecret, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(time.Hour).Unix() }), `{}`, 403, -1},
		{"other issuer", "POST", base + "/signal", restJWT(t, testSecret, func(c jwt.MapClaims) { c["iss"] = "999" }), `{}`, 403, -1},
		{"account JWT", "POST", base + "/signal", restJWT(t, testSecret, func(c jwt.MapClaims) { c["ist"] = "account" }), `{}`, 403, -1},
		{"replayed jti", "POST", base + "/signal", jti, `{"data":"again"}`, 403, -1},
		{"other API key in the path", "POST", api + "/v2/project/999/session/" + s.ID() + "/signal", ok(), `{}`, 403, -1},
		{"body not JSON", "POST", base + "/signal", ok(), `data=x`, 400, 400},
		{"unknown session", "POST", api + "/v2/project/" + testKey + "/session/1_bm9wZQ/signal", ok(), `{}`, 404, 404},
		{"unknown connection", "POST", base + "/connection/nope/signal", ok(), `{}`, 404, 404},
		{"unknown stream", "GET", base + "/stream/nope", ok(), ``, 404, 404},
		{"unknown stream's classes", "PUT", base + "/stream", ok(), `{"items":[{"id":"nope","layoutClassList":["a"]}]}`, 404, 404},
		{"signal data over 8 kB", "POST", base + "/signal", ok(), `{"data":"` + strings.Repeat("x", 8*1024+1) + `"}`, 413, 413},
		{"signal type with a space", "POST", base + "/signal", ok(), `{"type":"a b"}`, 400, 400},
		{"body over 256 kB", "POST", base + "/signal", ok(), `{"data":"` + strings.Repeat("x", 300<<10) + `"}`, 413, 413},
		{"mute without active", "POST", base + "/mute", ok(), `{}`, 400, 400},
		{"broadcast without outputs", "POST", api + "/v2/project/" + testKey + "/broadcast", ok(), `{"sessionId":"` + s.ID() + `"}`, 400, 400},
		{"unknown endpoint", "GET", api + "/v2/project/" + testKey + "/nothing", ok(), ``, 404, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := restCall(t, tc.method, tc.url, tc.auth, tc.body)
			var e struct {
				Code    int
				Message string
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || status != tc.status || e.Code != tc.code || e.Message == "" {
				t.Fatalf("got %d %s, want %d with code %d and a message", status, body, tc.status, tc.code)
			}
		})
	}
	form, _ := http.NewRequest("POST", api+"/session/create", strings.NewReader("archiveMode=always&p2p.preference=enabled"))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	form.Header.Set("X-OPENTOK-AUTH", ok())
	resp, err := http.DefaultClient.Do(form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("archiveMode always in a relayed session: %d, want 400", resp.StatusCode)
	}
	// e2ee=true makes an end-to-end encrypted session.
	form, _ = http.NewRequest("POST", api+"/session/create", strings.NewReader("e2ee=true&p2p.preference=disabled"))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	form.Header.Set("X-OPENTOK-AUTH", ok())
	resp, err = http.DefaultClient.Do(form)
	if err != nil {
		t.Fatal(err)
	}
	var created []struct {
		SessionID string `json:"session_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if err != nil || len(created) != 1 {
		t.Fatalf("e2ee session: %d %v", resp.StatusCode, err)
	}
	if e2ee, err := h.srv.Session(context.Background(), created[0].SessionID); err != nil || !e2ee.E2EE() {
		t.Errorf("e2ee=true made %v (err %v), not an end-to-end encrypted session", e2ee, err)
	}

	// The watcher got none of it: the next signal it gets is this one.
	if code, body := restCall(t, "POST", base+"/signal", ok(), `{"type":"b","data":"last"}`); code != http.StatusNoContent {
		t.Fatalf("%d %s", code, body)
	}
	if ev := next(t, watcher, signaling.TypeSignal); ev.Signal.Data != "last" {
		t.Fatalf("watcher got %+v", ev.Signal)
	}
	if _, err := h.srv.Session(context.Background(), s.ID()); err != nil {
		t.Fatal(err)
	}
}

// Bad archive calls get OpenTok's statuses: 400 for bad input, 404 for an
// unknown session, archive or stream, 409 for a relayed session or one
// recorded already, 405 for streams of an archive in auto mode, 501 for a
// custom layout; the archives they name are left as they were.
func TestRESTArchiveBadInput(t *testing.T) {
	h, api := restHarness(t, crossbar.Config{Archives: archive.Dir(t.TempDir())})
	ctx := context.Background()
	s := h.session()
	relayed, err := h.srv.CreateSession(ctx, crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	auto, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{MultiArchiveTag: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	manual, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{MultiArchiveTag: "manual", StreamMode: crossbar.StreamModeManual})
	if err != nil {
		t.Fatal(err)
	}
	arch := api + "/v2/project/" + testKey + "/archive"
	start := func(fields string) string {
		return `{"sessionId":"` + s.ID() + `","outputMode":"individual"` + fields + `}`
	}
	cases := []struct {
		name, method, url, body string
		status                  int
	}{
		{"start: body not JSON", "POST", arch, `sessionId=x`, 400},
		{"start: no session", "POST", arch, `{"outputMode":"individual"}`, 400},
		{"start: unknown session", "POST", arch, `{"sessionId":"1_bm9wZQ","outputMode":"individual"}`, 404},
		{"start: relayed session", "POST", arch, `{"sessionId":"` + relayed.ID() + `","outputMode":"individual"}`, 409},
		{"start: recorded already", "POST", arch, start(`,"multiArchiveTag":"auto"`), 409},
		{"start: custom layout", "POST", arch, `{"sessionId":"` + s.ID() + `","layout":{"type":"custom","stylesheet":"x"}}`, 501},
		{"start: composed (OpenTok's default), recorded already", "POST", arch, `{"sessionId":"` + s.ID() + `"}`, 409},
		{"start: resolution", "POST", arch, `{"sessionId":"` + s.ID() + `","resolution":"1x1"}`, 400},
		{"start: neither audio nor video", "POST", arch, start(`,"hasAudio":false,"hasVideo":false`), 400},
		{"start: name of 81", "POST", arch, start(`,"name":"` + strings.Repeat("n", 81) + `"`), 400},
		{"start: output mode", "POST", arch, `{"sessionId":"` + s.ID() + `","outputMode":"mixed"}`, 400},
		{"start: stream mode", "POST", arch, start(`,"streamMode":"some"`), 400},
		{"start: individual with a layout", "POST", arch, start(`,"layout":{"type":"pip"}`), 400},
		{"get: unknown", "GET", arch + "/nope", ``, 404},
		{"stop: unknown", "POST", arch + "/nope/stop", `{}`, 404},
		{"delete: unknown", "DELETE", arch + "/nope", ``, 404},
		{"delete: recording", "DELETE", arch + "/" + auto.ID, ``, 409},
		{"list: count not a number", "GET", arch + "?count=ten", ``, 400},
		{"list: count over 1000", "GET", arch + "?count=1001", ``, 400},
		{"list: negative offset", "GET", arch + "?offset=-1", ``, 400},
		{"layout: type", "PUT", arch + "/" + auto.ID + "/layout", `{"type":"mosaic"}`, 400},
		{"layout: of an individual archive", "PUT", arch + "/" + auto.ID + "/layout", `{"type":"pip"}`, 400},
		{"layout: unknown archive", "PUT", arch + "/nope/layout", `{"type":"pip"}`, 404},
		{"streams: both add and remove", "PATCH", arch + "/" + manual.ID + "/streams", `{"addStream":"a","removeStream":"b"}`, 400},
		{"streams: neither", "PATCH", arch + "/" + manual.ID + "/streams", `{}`, 400},
		{"streams: auto mode", "PATCH", arch + "/" + auto.ID + "/streams", `{"addStream":"a"}`, 405},
		{"streams: unknown stream", "PATCH", arch + "/" + manual.ID + "/streams", `{"addStream":"nope"}`, 404},
		{"streams: removing one not added", "PATCH", arch + "/" + manual.ID + "/streams", `{"removeStream":"nope"}`, 404},
		{"streams: unknown archive", "PATCH", arch + "/nope/streams", `{"removeStream":"a"}`, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := restCall(t, tc.method, tc.url, restJWT(t, testSecret, nil), tc.body)
			var e struct {
				Code    int
				Message string
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || status != tc.status || e.Code != tc.status || e.Message == "" {
				t.Fatalf("got %d %s, want %d with a message", status, body, tc.status)
			}
		})
	}
	if status, body := restCall(t, "POST", arch+"/"+auto.ID+"/stop", restJWT(t, testSecret, nil), `{}`); status != http.StatusOK {
		t.Fatalf("stop: %d %s", status, body)
	}
	if status, body := restCall(t, "POST", arch+"/"+auto.ID+"/stop", restJWT(t, testSecret, nil), `{}`); status != http.StatusConflict {
		t.Errorf("stopping it again: %d %s, want 409", status, body)
	}
	// Only the two archives started here exist, and the manual one still
	// records: the calls above changed nothing.
	list, total, err := h.srv.Archives(ctx, crossbar.ArchiveListOptions{})
	if err != nil || total != 2 {
		t.Fatalf("archives: %+v, %d, %v", list, total, err)
	}
	if a, err := h.srv.Archive(ctx, manual.ID); err != nil || (a.Status != crossbar.ArchiveStarted && a.Status != crossbar.ArchivePaused) || len(a.Streams) != 0 {
		t.Fatalf("the manual archive: %+v, %v", a, err)
	}
}

package crossbar_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

// OpenTok's broadcast endpoints: a broadcast started by REST to HLS is
// OpenTok's JSON, with the playlist's absolute URL, which serves segments
// of the broadcast; its layout changes, its streams cannot (405, auto
// mode), it is listed, and it stops. One of manual stream mode has the
// streams PATCH adds, with their media, until PATCH removes them.
func TestRESTBroadcast(t *testing.T) {
	mediatest.Need(t)
	h, api := restHarness(t, crossbar.Config{})
	s := h.session()
	publishColour(t, h.mediaClient(s, h.ws, "red", nil, client.Options{}), "red", 320, 240)
	cast := api + "/v2/project/" + testKey + "/broadcast"
	call := func(method, url, body string, want int) string {
		t.Helper()
		status, answer := restCall(t, method, url, restJWT(t, testSecret, nil), body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, url, status, answer, want)
		}
		return answer
	}
	var b struct {
		ID, SessionID, Status, Resolution, StreamMode string
		MaxDuration                                   int
		BroadcastURLs                                 struct{ HLS string }
		Streams                                       []struct {
			StreamID           string
			HasAudio, HasVideo bool
		}
		Settings struct {
			HLS struct{ DVR, LowLatency bool }
		}
	}
	decode := func(answer string) {
		t.Helper()
		if err := json.Unmarshal([]byte(answer), &b); err != nil {
			t.Fatalf("%v: %s", err, answer)
		}
	}
	decode(call("POST", cast, `{"sessionId":"`+s.ID()+`","resolution":"1280x720","maxDuration":600,"outputs":{"hls":{"dvr":true}}}`, 200))
	want := api + "/broadcast/" + b.ID + "/hls/index.m3u8"
	if b.Status != "started" || b.SessionID != s.ID() || b.Resolution != "1280x720" || b.MaxDuration != 600 || b.StreamMode != "auto" ||
		b.BroadcastURLs.HLS != want || !b.Settings.HLS.DVR {
		t.Fatalf("started: %+v, want the playlist at %s", b, want)
	}
	waitFor(t, 30*time.Second, "the HLS playlist's first segment", func() bool {
		return strings.Contains(get(t, b.BroadcastURLs.HLS), ".ts")
	})
	checkLive(t, capture(t, b.BroadcastURLs.HLS, 2*time.Second, "hls.ts"), 1280, 720)

	call("PUT", cast+"/"+b.ID+"/layout", `{"type":"pip"}`, 200)
	call("PATCH", cast+"/"+b.ID+"/streams", `{"addStream":"x"}`, 405)
	call("POST", cast, `{"sessionId":"`+s.ID()+`","outputs":{"hls":{}}}`, 409)
	var list struct {
		Count int
		Items []struct{ ID string }
	}
	if err := json.Unmarshal([]byte(call("GET", cast+"?sessionId="+s.ID(), ``, 200)), &list); err != nil || list.Count != 1 || len(list.Items) != 1 || list.Items[0].ID != b.ID {
		t.Fatalf("list: %+v, %v", list, err)
	}
	decode(call("POST", cast+"/"+b.ID+"/stop", `{}`, 200))
	if b.Status != "stopped" {
		t.Fatalf("stopped: %+v", b)
	}
	decode(call("GET", cast+"/"+b.ID, ``, 200))
	if b.Status != "stopped" {
		t.Fatalf("got after stop: %+v", b)
	}
	call("POST", cast+"/"+b.ID+"/stop", `{}`, 409)
	call("GET", cast+"/nope", ``, 404)

	decode(call("POST", cast, `{"sessionId":"`+s.ID()+`","streamMode":"manual","outputs":{"hls":{}}}`, 200))
	if b.StreamMode != "manual" || b.Streams == nil || len(b.Streams) != 0 {
		t.Fatalf("started in manual mode: %+v", b)
	}
	streams := cast + "/" + b.ID + "/streams"
	red := s.Streams()[0].ID()
	call("PATCH", streams, `{"addStream":"`+red+`","hasVideo":false}`, 204)
	decode(call("GET", cast+"/"+b.ID, ``, 200))
	if len(b.Streams) != 1 || b.Streams[0].StreamID != red || !b.Streams[0].HasAudio || b.Streams[0].HasVideo {
		t.Fatalf("the stream added: %+v", b.Streams)
	}
	call("PATCH", streams, `{"addStream":"nope"}`, 404)
	call("PATCH", streams, `{"addStream":"`+red+`","removeStream":"`+red+`"}`, 400)
	call("PATCH", streams, `{"removeStream":"`+red+`"}`, 204)
	call("PATCH", streams, `{"removeStream":"`+red+`"}`, 404)
	decode(call("POST", cast+"/"+b.ID+"/stop", `{}`, 200))
}

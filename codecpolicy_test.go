package crossbar_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crossbar-rtc/crossbar"
)

// A session's video codec is the one its publishers send: Chromium, which
// offers VP8 first, publishes H.264 in an H.264 session and VP8 in a
// default one, and another page decodes it.
func TestJSSessionVideoCodec(t *testing.T) {
	r := newJSRig(t)
	for _, tc := range []struct {
		codec crossbar.VideoCodec
		want  string
	}{
		{"", "video/VP8"},
		{crossbar.H264, "video/H264"},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			s, err := r.srv.CreateSession(context.Background(), crossbar.SessionOptions{VideoCodec: tc.codec})
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := r.join("publisher", s, crossbar.RolePublisher)
			var res jsResult
			pub.Eval(`publish()`, &res)
			if res.Error != nil {
				t.Fatalf("publish: %+v", res.Error)
			}
			st, err := s.Stream(res.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Publisher().VideoCodec(); !strings.EqualFold(got, tc.want) {
				t.Fatalf("the stream's video is %q, want %q", got, tc.want)
			}
			sub, _ := r.join("subscriber", s, crossbar.RoleSubscriber)
			sub.Eval(`subscribeAll()`, nil)
			sub.WaitVideos(subscriberVideos, 1, mediaWait)
		})
	}
	if _, err := r.srv.CreateSession(context.Background(), crossbar.SessionOptions{VideoCodec: "AV1"}); err == nil {
		t.Fatal("a session with an unknown codec was created")
	}
}

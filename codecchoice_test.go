package crossbar

import "testing"

// A CommonCodec session sends H.264 while every client decodes it, VP8
// once one does not, VP9 where only VP9 is common, and VP8 where nothing
// is; a client that declares nothing decodes VP8 alone.
func TestCommonCodecChoice(t *testing.T) {
	s := newTestSession(t)
	s.info.VideoCodec = CommonCodec
	clients := map[string]*Connection{}
	for _, step := range []struct {
		join, leave string
		decodes     []string
		want        string
	}{
		{join: "chromium", decodes: []string{"VP8", "H264", "VP9"}, want: "video/H264"},
		{join: "firefox", decodes: []string{"vp8", "video/VP9", "AV1", "VP8"}, want: "video/VP8"},
		{join: "old", want: "video/VP8"},
		{leave: "firefox", want: "video/VP8"},
		{leave: "old", want: "video/H264"},
		{join: "vp9", decodes: []string{"VP9"}, want: "video/VP9"},
		{join: "h264", decodes: []string{"H264"}, want: "video/VP8"},
	} {
		s.mu.Lock()
		if step.join != "" {
			clients[step.join] = &Connection{decodes: decodable(step.decodes)}
			s.joinCodecsLocked(clients[step.join])
		} else {
			s.leaveCodecsLocked(clients[step.leave])
		}
		s.unlock()
		if got := s.publishVideoCodec(); got != step.want {
			t.Fatalf("after %+v: %s, want %s", step, got, step.want)
		}
	}
}

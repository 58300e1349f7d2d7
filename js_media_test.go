package crossbar_test

import (
	"fmt"
	"testing"

	"github.com/crossbar-rtc/crossbar"
)

// mediaOf describes, in the page, the tracks of a MediaStream or an
// OTError: {audio, video: [settings...]} or {error: {name, code}}.
const mediaOf = `((p) => p.then(
  (ms) => ({stream: ms instanceof MediaStream, audio: ms.getAudioTracks().map((t) => t.getSettings()), video: ms.getVideoTracks().map((t) => t.getSettings())}),
  (err) => failure(err)))`

// gotMedia is what mediaOf resolves with.
type gotMedia struct {
	Stream bool
	Audio  []trackSettings
	Video  []trackSettings
	Error  *jsError
}

type trackSettings struct {
	DeviceID       string  `json:"deviceId"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	FrameRate      float64 `json:"frameRate"`
	DisplaySurface string  `json:"displaySurface"`
}

func TestJSGetUserMediaTakesOpenTokOptions(t *testing.T) {
	r := newJSRig(t)
	p := r.browser.Open(t, "gum", r.url+"/")
	var cameras []string
	p.Eval(`navigator.mediaDevices.getUserMedia({video: true}).then((ms) => { ms.getTracks().forEach((t) => t.stop());
		return navigator.mediaDevices.enumerateDevices(); }).then((ds) => ds.filter((d) => d.kind === 'videoinput').map((d) => d.deviceId))`, &cameras)
	if len(cameras) == 0 {
		t.Fatal("no fake camera")
	}
	for _, c := range []struct {
		what, props  string
		audio, video int
		check        func(gotMedia) error
	}{
		{"defaults", ``, 1, 1, nil},
		{"no video", `{videoSource: null}`, 1, 0, nil},
		{"no audio, resolution and frame rate", `{audioSource: false, resolution: '320x240', frameRate: 15}`, 0, 1, func(m gotMedia) error {
			if v := m.Video[0]; v.Width != 320 || v.Height != 240 || v.FrameRate != 15 {
				return fmt.Errorf("video %+v, want 320x240 at 15 fps", v)
			}
			return nil
		}},
		{"a camera by deviceId", fmt.Sprintf(`{audioSource: null, videoSource: %q}`, cameras[0]), 0, 1, func(m gotMedia) error {
			if m.Video[0].DeviceID != cameras[0] {
				return fmt.Errorf("camera %q, want %q", m.Video[0].DeviceID, cameras[0])
			}
			return nil
		}},
		{"the screen", `{videoSource: 'screen'}`, 0, 1, func(m gotMedia) error {
			if m.Video[0].DisplaySurface == "" {
				return fmt.Errorf("video %+v is not a screen capture", m.Video[0])
			}
			return nil
		}},
		{"the screen with the microphone", `{videoSource: 'screen', audioSource: undefined, publishAudio: true}`, 1, 1, nil},
	} {
		var got gotMedia
		p.Eval(fmt.Sprintf(`%s(OT.getUserMedia(%s))`, mediaOf, c.props), &got)
		switch {
		case got.Error != nil:
			t.Errorf("%s: %+v", c.what, got.Error)
		case !got.Stream || len(got.Audio) != c.audio || len(got.Video) != c.video:
			t.Errorf("%s: %d audio and %d video tracks (a MediaStream: %v), want %d and %d", c.what, len(got.Audio), len(got.Video), got.Stream, c.audio, c.video)
		case c.check != nil:
			if err := c.check(got); err != nil {
				t.Errorf("%s: %v", c.what, err)
			}
		}
	}
	for _, c := range []struct {
		what, props string
		code        int
		name        string
	}{
		{"an unknown camera", `{videoSource: 'no-such-camera'}`, 1500, "OT_CONSTRAINTS_NOT_SATISFIED"},
		{"an unknown resolution", `{resolution: '3x2'}`, 1011, "OT_INVALID_PARAMETER"},
		{"MediaStreamConstraints", `{audio: true, video: false}`, 1011, "OT_INVALID_PARAMETER"},
		{"nothing", `{audioSource: null, videoSource: null}`, 1500, "OT_NO_VALID_CONSTRAINTS"},
	} {
		var got gotMedia
		p.Eval(fmt.Sprintf(`%s(OT.getUserMedia(%s))`, mediaOf, c.props), &got)
		if got.Error == nil || got.Error.Code != c.code || got.Error.Name != c.name {
			t.Errorf("%s: error %+v, want %d %s", c.what, got.Error, c.code, c.name)
		}
	}
}

// TestJSScreenShareHasNoMicrophoneUnlessAsked: as in OpenTok, a screen
// share publishes no audio unless audioSource or publishAudio asks for it.
func TestJSScreenShareHasNoMicrophoneUnlessAsked(t *testing.T) {
	r := newJSRig(t)
	s := r.session()
	p, _ := r.join("sharer", s, crossbar.RolePublisher)
	for _, c := range []struct {
		props        string
		audio        int
		publishAudio bool
	}{
		{`{videoSource: 'screen'}`, 0, false},
		{`{videoSource: 'screen', publishAudio: true}`, 1, true},
		{`{videoSource: 'screen', audioSource: null, publishAudio: true}`, 0, true},
		{`{}`, 1, true},
	} {
		var got struct {
			Audio, Video int
			PublishAudio bool
			Type         string
		}
		p.Eval(fmt.Sprintf(`(async () => {
			const pub = OT.initPublisher(document.body, {insertMode: 'append', ...%s});
			await new Promise((resolve, reject) => pub.on('accessAllowed', resolve).on('accessDenied', (e) => reject(new Error(e.message))));
			const out = {audio: pub.mediaStream.getAudioTracks().length, video: pub.mediaStream.getVideoTracks().length,
				publishAudio: pub.properties.publishAudio, type: pub.getVideoSource().type};
			pub.destroy();
			return out;
		})()`, c.props), &got)
		if got.Audio != c.audio || got.PublishAudio != c.publishAudio || got.Video != 1 {
			t.Errorf("%s: %d audio tracks, %d video, publishAudio %v; want %d audio, 1 video, publishAudio %v", c.props, got.Audio, got.Video, got.PublishAudio, c.audio, c.publishAudio)
		}
	}

	// Published, the screen share is a stream without audio.
	id := publish(t, p, `{videoSource: 'screen'}`)
	st, err := s.Stream(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.HasAudio() || st.VideoType() != crossbar.VideoScreen {
		t.Errorf("screen share stream: hasAudio %v, videoType %q", st.HasAudio(), st.VideoType())
	}
}

// TestJSPublisherAudioLevelBeforePublishing: a publisher that is not
// published reports its microphone's level (Chromium's fake one beeps
// twice a second) in audioLevelUpdated, about every 60 ms.
func TestJSPublisherAudioLevelBeforePublishing(t *testing.T) {
	r := newJSRig(t)
	p := r.browser.Open(t, "levels", r.url+"/")
	var got struct {
		Count          int
		Min, Max       float64
		Interval       float64
		Published      bool
		OutOfRange     int
		SilentAfterOff bool
	}
	p.Eval(`new Promise((resolve) => {
		const pub = OT.initPublisher(document.body, {insertMode: 'append', videoSource: null});
		const levels = [], times = [];
		const onLevel = (e) => {
			levels.push(e.audioLevel);
			times.push(performance.now());
			if (levels.length < 40 || Math.max(...levels) < 0.05) return;
			pub.off('audioLevelUpdated', onLevel);
			const out = {count: levels.length, min: Math.min(...levels), max: Math.max(...levels),
				interval: (times[times.length - 1] - times[0]) / (times.length - 1),
				published: Boolean(pub.stream || pub.session), outOfRange: levels.filter((l) => !(l >= 0 && l <= 1)).length};
			// publishAudio(false) silences the level.
			pub.publishAudio(false);
			const quiet = [];
			pub.on('audioLevelUpdated', (e) => {
				quiet.push(e.audioLevel);
				if (quiet.length >= 20) resolve({...out, silentAfterOff: Math.max(...quiet.slice(5)) === 0});
			});
		};
		pub.on('audioLevelUpdated', onLevel);
	})`, &got)
	t.Logf("%d levels from %.3f to %.3f, every %.0f ms", got.Count, got.Min, got.Max, got.Interval)
	if got.Published {
		t.Error("the publisher was published")
	}
	if got.OutOfRange > 0 {
		t.Errorf("%d levels out of 0..1", got.OutOfRange)
	}
	if got.Min > 0.01 {
		t.Errorf("lowest level %.3f: the silence between beeps is not measured", got.Min)
	}
	if got.Interval < 30 || got.Interval > 120 {
		t.Errorf("levels every %.0f ms, want about 60", got.Interval)
	}
	if !got.SilentAfterOff {
		t.Error("levels after publishAudio(false) are not 0")
	}
}

package crossbar_test

import (
	"slices"
	"strings"
	"testing"
)

// audioTools defines, in a page: noise(), silence() and leftTone(), audio
// tracks of white noise, digital silence (a muted tone: a
// destination with nothing connected sends nothing at all), and a 440 Hz tone in the left
// channel with nothing in the right; pub(props), which publishes an audio
// only Publisher; sent(p), which resolves with what p sends a second
// (kbps, packets) over 2 s; and channels(name), which resolves with the
// energy of the left and right channels of the subscriber to the stream
// named name, over 2 s.
const audioTools = `(() => {
  const ctx = new AudioContext();
  const track = (connect) => {
    const dst = ctx.createMediaStreamDestination();
    dst.channelCount = 2;
    connect(dst);
    return dst.stream.getAudioTracks()[0];
  };
  window.noise = () => track((dst) => {
    const buf = ctx.createBuffer(2, ctx.sampleRate, ctx.sampleRate);
    for (let c = 0; c < 2; c++) buf.getChannelData(c).forEach((_, i, d) => { d[i] = Math.random() * 2 - 1; });
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.loop = true;
    src.connect(dst);
    src.start();
  });
  window.silence = () => track((dst) => {
    const osc = ctx.createOscillator();
    const mute = ctx.createGain();
    mute.gain.value = 0;
    osc.connect(mute).connect(dst);
    osc.start();
  });
  window.leftTone = () => track((dst) => {
    const osc = ctx.createOscillator();
    const merge = ctx.createChannelMerger(2);
    osc.connect(merge, 0, 0);
    merge.connect(dst);
    osc.start();
  });
  window.pub = (props) => new Promise((resolve) => {
    const p = OT.initPublisher(document.body, {insertMode: 'append', videoSource: null, ...props});
    S.publish(p, (err) => resolve(err ? failure(err) : {id: p.stream.streamId}));
  });
  window.sent = async (p) => {
    const count = async () => (await p.getStats())[0].stats.audio;
    const a = await count();
    await new Promise((r) => setTimeout(r, 2000));
    const b = await count();
    return {kbps: (b.bytesSent - a.bytesSent) * 8 / 2000, packets: (b.packetsSent - a.packetsSent) / 2};
  };
  window.channels = (name) => new Promise((resolve) => {
    const sub = OT.subscribers.find((s) => s.stream.name === name);
    const src = ctx.createMediaStreamSource(sub.element.querySelector('video').srcObject);
    const split = ctx.createChannelSplitter(2);
    src.connect(split);
    const meters = [0, 1].map((i) => { const a = ctx.createAnalyser(); split.connect(a, i); return a; });
    const energy = [0, 0];
    const buf = new Float32Array(2048);
    const timer = setInterval(() => meters.forEach((a, i) => {
      a.getFloatTimeDomainData(buf);
      energy[i] += buf.reduce((s, x) => s + x * x, 0);
    }), 50);
    setTimeout(() => { clearInterval(timer); src.disconnect(); resolve(energy); }, 2000);
  });
})()`

// A rate is what sent(p) resolves with.
type rate struct{ Kbps, Packets float64 }

// Publishers' Opus settings are negotiated (with in-band FEC always) and
// hold in what Chromium sends: audioBitrate sets
// the bit rate of noise (12 and 96 kbps), enableDtx all but stops the
// packets of silence, and enableStereo sends a tone in the left channel
// alone, which the subscriber plays in the left channel alone; without
// it, the tone is in both. All go through one peer connection.
func TestJSPublisherOpusSettings(t *testing.T) {
	a, b := newJSRig(t).twoPages(audioTools)
	b.Eval(`subscribeAll()`, nil)
	for _, props := range []string{
		`{name: 'low', audioSource: noise(), audioBitrate: 12000}`,
		`{name: 'high', audioSource: noise(), audioBitrate: 96000}`,
		`{name: 'dtx', audioSource: noise(), enableDtx: true}`,
		`{name: 'plain', audioSource: noise()}`,
		`{name: 'stereo', audioSource: leftTone(), enableStereo: true}`,
		`{name: 'mono', audioSource: leftTone()}`,
	} {
		var res jsResult
		a.Eval(`pub(`+props+`)`, &res)
		if res.Error != nil {
			t.Fatalf("publish %s: %+v", props, res.Error)
		}
	}
	b.Wait("six subscribers hear audio", `OT.subscribers.length === 6`, mediaWait)
	b.WaitInboundAudio(mediaWait)
	// Silence from the start would send too little for the server to see
	// the stream published: these go silent once published.
	a.Eval(`Promise.all(OT.publishers.where((p) => ['dtx', 'plain'].includes(p.properties.name)).map((p) => p.setAudioSource(silence())))`, nil)

	// The negotiated Opus parameters, as the sender's codec statistics say.
	var fmtp map[string]string
	a.Eval(`Promise.all(OT.publishers.map(async (p) => {
		const report = (await p.getRtcStatsReport())[0].rtcStatsReport;
		let line = '';
		report.forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'audio') line = report.get(r.codecId).sdpFmtpLine; });
		return [p.properties.name, line];
	})).then(Object.fromEntries)`, &fmtp)
	t.Logf("fmtp: %q", fmtp)
	for name, want := range map[string][]string{
		"low": {"maxaveragebitrate=12000"}, "high": {"maxaveragebitrate=96000"}, "dtx": {"usedtx=1"},
		"stereo": {"stereo=1"}, "mono": {}, "plain": {},
	} {
		for _, w := range append(want, "useinbandfec=1") {
			if !slices.Contains(strings.Split(fmtp[name], ";"), w) {
				t.Errorf("%s: fmtp %q lacks %s", name, fmtp[name], w)
			}
		}
		if name == "mono" && strings.Contains(fmtp[name], "stereo=1") {
			t.Errorf("mono: fmtp %q", fmtp[name])
		}
	}

	var rates map[string]rate
	a.Eval(`Promise.all(OT.publishers.map(async (p) => [p.properties.name, await sent(p)])).then(Object.fromEntries)`, &rates)
	t.Logf("sent: %+v", rates)
	if r := rates["low"]; r.Kbps > 20 {
		t.Errorf("audioBitrate 12000: %.1f kbps", r.Kbps)
	}
	if r := rates["high"]; r.Kbps < 60 {
		t.Errorf("audioBitrate 96000: %.1f kbps", r.Kbps)
	}
	// Opus's DTX sends a packet of silence every 400 ms, once it has heard
	// enough of it.
	a.Wait("DTX thins the silence", `sent(OT.publishers.find((p) => p.properties.name === 'dtx')).then((r) => r.packets < 8)`, mediaWait)
	var plain rate
	a.Eval(`sent(OT.publishers.find((p) => p.properties.name === 'plain'))`, &plain)
	if plain.Packets < 40 {
		t.Errorf("silence without DTX: %.1f packets a second, want Opus's 50", plain.Packets)
	}

	var stereo, mono [2]float64
	b.Eval(`channels('stereo')`, &stereo)
	b.Eval(`channels('mono')`, &mono)
	t.Logf("left and right energy: stereo %.1f, mono %.1f", stereo, mono)
	if stereo[0] < 1 || stereo[1] > stereo[0]/10 {
		t.Errorf("stereo stream: left %.2f, right %.2f: want the tone on the left alone", stereo[0], stereo[1])
	}
	if mono[0] < 1 || mono[1] < mono[0]/2 {
		t.Errorf("mono stream: left %.2f, right %.2f: want the tone in both", mono[0], mono[1])
	}
}

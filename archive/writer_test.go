package archive

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v3"
)

var (
	vp8  = &Track{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, Width: 320, Height: 240}
	opus = &Track{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}
)

// packet is an RTP packet of a track.
type packet struct {
	kind webrtc.RTPCodecType
	*rtp.Packet
}

// packets returns n frames of fake VP8 at 30 fps (a keyframe every 30,
// each size bytes, in packets of at most 1000) and 20 ms Opus packets for
// as long, in the order they would come, and the numbers of each.
func packets(n, size int) (all []packet, audio, video int) {
	var pay codecs.VP8Payloader
	seq := uint16(60000) // wraps
	for i := range n {
		frame := make([]byte, size)
		frame[0] = 1 // interframe
		if i%30 == 0 {
			frame[0] = 0
		}
		ps := pay.Payload(1000, frame)
		for j, b := range ps {
			all = append(all, packet{webrtc.RTPCodecTypeVideo, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(4294000000 + i*3000), Marker: j == len(ps)-1}, Payload: b}})
			seq++
			video++
		}
		for ; audio*20 < (i+1)*100/3; audio++ { // 20 ms each, up to the frame's time
			all = append(all, packet{webrtc.RTPCodecTypeAudio, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(audio), Timestamp: uint32(audio * 960)}, Payload: []byte{0xfc, 1, 2, 3}}})
		}
	}
	return all, audio, video
}

// write writes packets to w.
func write(t testing.TB, w *Writer, ps []packet) {
	t.Helper()
	for _, p := range ps {
		if err := w.WriteRTP(p.kind, p.Packet); err != nil {
			t.Fatal(err)
		}
	}
}

// probe returns ffprobe's codec names, duration and packet counts of a
// file, by stream; it skips the test without ffprobe.
func probe(t *testing.T, path string) (codec []string, duration float64, packets []int) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not installed (apt-get install ffmpeg): cannot check the file")
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=codec_name,nb_read_packets:format=duration", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) == 2 {
			n, _ := strconv.Atoi(f[1])
			codec, packets = append(codec, f[0]), append(packets, n)
		} else {
			duration, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return codec, duration, packets
}

func TestWriterWebM(t *testing.T) {
	dir := Dir(t.TempDir())
	f, err := dir.Create(context.Background(), "a1", "s1.webm")
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, opus, vp8)
	if err != nil {
		t.Fatal(err)
	}
	all, _, _ := packets(90, 2400) // 3 s
	write(t, w, all)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() == 0 {
		t.Fatal("Size is 0 after writing 3 s")
	}
	codec, duration, n := probe(t, dir.Path("a1", "s1.webm"))
	if len(codec) != 2 || codec[0] != "opus" || codec[1] != "vp8" {
		t.Fatalf("codecs %v, want [opus vp8]", codec)
	}
	// The sample builder holds the last frame back until the next comes.
	if n[1] < 89 {
		t.Errorf("%d video frames, want 89", n[1])
	}
	if duration < 2.5 || duration > 3.5 {
		t.Errorf("duration %.2f s, want 3 ± 0.5", duration)
	}
}

func TestWriterStartsAtKeyframe(t *testing.T) {
	dir := Dir(t.TempDir())
	f, _ := dir.Create(context.Background(), "a1", "s1.webm")
	w, err := NewWriter(f, nil, vp8)
	if err != nil {
		t.Fatal(err)
	}
	all, _, _ := packets(60, 2400)
	write(t, w, all[3*10:]) // from frame 10: the first keyframe is frame 30
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, n := probe(t, dir.Path("a1", "s1.webm"))
	if len(n) != 1 || n[0] != 29 { // frames 30 to 58; 59 is held back
		t.Fatalf("video frames %v, want [29]", n)
	}
}

// full is a file on a full disk.
type full struct{ writes int }

func (f *full) Write(p []byte) (int, error) {
	if f.writes++; f.writes > 3 {
		return 0, errFull
	}
	return len(p), nil
}
func (f *full) Close() error { return nil }

var errFull = errors.New("no space left on device")

func TestWriterFails(t *testing.T) {
	w, err := NewWriter(&full{}, opus, vp8)
	if err != nil {
		t.Fatal(err)
	}
	all, _, _ := packets(60, 2400)
	var werr error
	for _, p := range all { // the writes after the failure must not block
		if err := w.WriteRTP(p.kind, p.Packet); werr == nil {
			werr = err
		}
	}
	if err := w.Close(); !errors.Is(err, errFull) {
		t.Fatalf("Close: %v, want %v", err, errFull)
	}
	if !errors.Is(werr, errFull) {
		t.Fatalf("WriteRTP: %v, want %v", werr, errFull)
	}
}

func TestWriterRefusesCodec(t *testing.T) {
	_, err := NewWriter(&full{}, nil, &Track{MimeType: "video/AV1", ClockRate: 90000})
	if !errors.Is(err, ErrUnsupportedCodec) {
		t.Fatalf("NewWriter: %v, want ErrUnsupportedCodec", err)
	}
}

func TestDirRemove(t *testing.T) {
	dir := Dir(t.TempDir())
	f, err := dir.Create(context.Background(), "a1", "s1.webm")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := dir.Remove(context.Background(), "a1"); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(dir.Path("a1", "*")); len(m) != 0 {
		t.Fatalf("files left: %v", m)
	}
	if _, err := dir.Create(context.Background(), "..", "x"); err == nil {
		t.Fatal("Create accepted archive id \"..\"")
	}
}

// BenchmarkWriter measures the writer's path per RTP packet, to a file:
// Opus audio and VP8 video of 360p (600 kbit/s) or 720p (2 Mbit/s) at 30
// fps. The metric %core is the share of one core that writing such a
// stream in real time takes; MB/min is its file's size a minute.
func BenchmarkWriter(b *testing.B) {
	for _, c := range []struct {
		name  string
		frame int // bytes
	}{{"360p", 2500}, {"720p", 8300}} {
		b.Run(c.name, func(b *testing.B) { benchmarkWriter(b, c.frame) })
	}
}

func benchmarkWriter(b *testing.B, frame int) {
	dir := Dir(b.TempDir())
	f, _ := dir.Create(context.Background(), "a1", "s1.webm")
	w, err := NewWriter(f, opus, vp8)
	if err != nil {
		b.Fatal(err)
	}
	const seconds = 10
	all, audio, video := packets(seconds*30, frame)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := all[i%len(all)]
		q := *p.Packet
		// Each round's packets follow the last round's.
		round := i / len(all)
		n, ticks := video, 90000
		if p.kind == webrtc.RTPCodecTypeAudio {
			n, ticks = audio, 48000
		}
		q.SequenceNumber += uint16(round * n)
		q.Timestamp += uint32(round * seconds * ticks)
		if err := w.WriteRTP(p.kind, &q); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	media := float64(b.N) / float64(len(all)) * seconds // seconds of media written
	b.ReportMetric(b.Elapsed().Seconds()/media*100, "%core")
	w.Close()
	b.ReportMetric(float64(w.Size())/media*60/1e6, "MB/min")
}

// videoOnlyWriter returns a Writer of a VP8 stream without audio to a file
// of dir, the count of its keyframe requests, and 150 frames of video
// packets (a keyframe every 40) to write to it.
func videoOnlyWriter(t *testing.T) (*Writer, Dir, *int, []packet) {
	t.Helper()
	dir := Dir(t.TempDir())
	f, _ := dir.Create(context.Background(), "a1", "s1.webm")
	w, err := NewWriter(f, nil, vp8)
	if err != nil {
		t.Fatal(err)
	}
	asked := new(int)
	w.OnKeyframeNeeded(func() { *asked++ })
	all, _, _ := packets(150, 2400)
	var video []packet
	for _, p := range all {
		if p.kind == webrtc.RTPCodecTypeVideo {
			video = append(video, p)
		}
	}
	return w, dir, asked, video
}

// A lost video packet leaves its frame and those that follow out until the
// next keyframe, which the Writer asks for.
func TestWriterSkipsToKeyframeAfterLoss(t *testing.T) {
	w, dir, asked, video := videoOnlyWriter(t)
	write(t, w, video[:40*3+1]) // frames 0-39, and the first packet of 40
	write(t, w, video[40*3+2:]) // its second packet is lost
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if *asked != 1 {
		t.Errorf("asked for %d keyframes, want 1", *asked)
	}
	_, _, n := probe(t, dir.Path("a1", "s1.webm"))
	// Frames 0-39 and 60-148 (149 is held back): not 40-59.
	if len(n) != 1 || n[0] != 40+89 {
		t.Fatalf("video frames %v, want [%d]", n, 40+89)
	}
}

func TestVP9Keyframe(t *testing.T) {
	for _, c := range []struct {
		b    byte
		want bool
	}{
		{0x82, true},  // profile 0, keyframe
		{0x86, false}, // profile 0, interframe
		{0x8a, false}, // profile 0, shows an existing frame
		{0xb1, true},  // profile 3, keyframe (after the reserved bit)
		{0xb2, false}, // profile 3, interframe
		{0x42, false}, // no frame marker
	} {
		if got := vp9Keyframe([]byte{c.b, 0}); got != c.want {
			t.Errorf("vp9Keyframe(%#x) = %v, want %v", c.b, got, c.want)
		}
	}
}

// H.264 goes to a Matroska file, which starts at an IDR frame.
func TestWriterMatroskaH264(t *testing.T) {
	dir := Dir(t.TempDir())
	f, _ := dir.Create(context.Background(), "a1", "s1.mkv")
	w, err := NewWriter(f, nil, &Track{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	units := make([][]byte, 60)
	for i := range units {
		units[i] = []byte{0, 0, 0, 1, 0x41, 0x9a, 1, 2, 3} // a non-IDR slice
		if i%30 == 10 {
			units[i] = []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 0x88, 1, 2, 3} // SPS, PPS, IDR
		}
	}
	writeH264(t, w, units)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	codec, _, n := probe(t, dir.Path("a1", "s1.mkv"))
	if len(codec) != 1 || codec[0] != "h264" || n[0] != 49 { // frames 10 to 58
		t.Fatalf("codecs %v, packets %v; want h264, 49", codec, n)
	}
}

// An H.264 stream from a real encoder (FFmpeg's libx264, as a browser's
// would be, SPS and PPS with each keyframe) goes to a Matroska file whose
// track header holds its AVC configuration: ffprobe reads the file as AVC
// (not Annex B), its size though the Track gives none, and decodes every
// frame.
func TestWriterH264FromEncoder(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (apt-get install ffmpeg)")
	}
	dir := Dir(t.TempDir())
	raw := filepath.Join(string(dir), "in.h264")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-frames:v", "45",
		"-pix_fmt", "yuv420p", "-c:v", "libx264", "-profile:v", "baseline", "-g", "15", "-bsf:v", "h264_mp4toannexb", "-f", "h264", raw).CombinedOutput()
	if err != nil {
		t.Skipf("ffmpeg cannot encode H.264 here: %v\n%s", err, out)
	}
	stream, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	// One access unit per frame, its slice (one a frame, x264's
	// default) after a start code; the NAL units before it (SPS, PPS,
	// SEI) in an access unit of their own, as Chromium's come at times.
	var units [][]byte
	var params []byte
	frames := 0
	for _, n := range annexBNALUs(stream) {
		unit := append([]byte{0, 0, 0, 1}, n...)
		if typ := n[0] & 0x1f; typ != 1 && typ != 5 {
			params = append(params, unit...)
			continue
		}
		if params != nil {
			units, params = append(units, params), nil
		}
		units = append(units, unit)
		frames++
	}
	if frames != 45 || len(units) <= frames {
		t.Fatalf("%d frames in %d access units from the encoder, want 45 and their parameter sets", frames, len(units))
	}

	f, _ := dir.Create(context.Background(), "a1", "s1.mkv")
	w, err := NewWriter(f, opus, &Track{MimeType: webrtc.MimeTypeH264, ClockRate: 90000})
	if err != nil {
		t.Fatal(err)
	}
	// Audio comes first: it waits for the keyframe that starts the file.
	for i := range 20 {
		a := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 960)}, Payload: []byte{0xfc, 1, 2}}
		if err := w.WriteRTP(webrtc.RTPCodecTypeAudio, a); err != nil {
			t.Fatal(err)
		}
	}
	writeH264(t, w, units)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	probe := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_frames",
		"-show_entries", "stream=codec_name,profile,width,height,is_avc,nal_length_size,nb_read_frames", "-of", "csv=p=0", dir.Path("a1", "s1.mkv"))
	probe.Stderr = &stderr
	got, err := probe.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
	}
	// AVC samples with 4-byte lengths (is_avc: the header's
	// configuration), the size though the Track gave none, every frame
	// but the last, which stays in the sample builder: nothing follows it.
	if want := "h264,Constrained Baseline,320,240,true,4,44"; strings.TrimSpace(string(got)) != want {
		t.Fatalf("ffprobe reads %q, want %q", strings.TrimSpace(string(got)), want)
	}
}

// writeH264 sends w Annex B access units as RTP, one every 1/30 s.
func writeH264(t *testing.T, w *Writer, units [][]byte) {
	t.Helper()
	var pay codecs.H264Payloader
	seq := uint16(0)
	for i, au := range units {
		ps := pay.Payload(1200, au)
		for j, b := range ps {
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i * 3000), Marker: j == len(ps)-1}, Payload: b}
			if err := w.WriteRTP(webrtc.RTPCodecTypeVideo, p); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
}

// Video that does not start with a keyframe (the first was lost) is left
// out until one comes, which the Writer asks for.
func TestWriterAsksForFirstKeyframe(t *testing.T) {
	w, dir, asked, video := videoOnlyWriter(t)
	write(t, w, video[3:]) // from frame 1: keyframe 0 is lost
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if *asked != 1 {
		t.Errorf("asked for %d keyframes, want 1", *asked)
	}
	// Frames 30-148 (149 is held back).
	if _, _, n := probe(t, dir.Path("a1", "s1.webm")); len(n) != 1 || n[0] != 119 {
		t.Fatalf("video frames %v, want [119]", n)
	}
}

package archive

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

// BenchmarkCompose4x720p composes 10 s of four 720p VP8 streams (ffmpeg's
// moving test pattern) into a 1280x720 bestFit archive. It reports the
// real-time factor (seconds of composing per second of archive), ffmpeg's
// CPU time per second of archive (1 is one core busy), and the file's size
// per minute.
func BenchmarkCompose4x720p(b *testing.B) {
	mediatest.Need(b)
	const d = 10 * time.Second
	dir := b.TempDir()
	c := Composition{Width: 1280, Height: 720, Duration: d, Layouts: []LayoutChange{{Type: BestFit}}}
	for i := range 4 {
		path := filepath.Join(dir, fmt.Sprintf("%d.webm", i))
		out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=1280x720:r=30:d=%s", seconds(d)),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=f=%d:d=%s", 300+100*i, seconds(d)),
			"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1500k", "-c:a", "libopus", path).CombinedOutput()
		if err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		c.Inputs = append(c.Inputs, Input{Path: path, Stop: d, HasAudio: true, HasVideo: true})
	}
	out := filepath.Join(dir, "out.mp4")
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := Compose(context.Background(), "", c, out); err != nil {
			b.Fatal(err)
		}
	}
	wall := time.Since(start)
	b.StopTimer()
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after); err != nil {
		b.Fatal(err)
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	fi, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	archived := d.Seconds() * float64(b.N)
	b.ReportMetric(wall.Seconds()/archived, "rtf")
	b.ReportMetric(cpu.Seconds()/archived, "cpu-s/s")
	b.ReportMetric(float64(fi.Size())/d.Minutes()/1e6, "MB/min")
}

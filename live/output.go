package live

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// OutputStatus is where an RTMP output is, as OpenTok names it.
type OutputStatus string

// Output statuses: connecting until the server took the first bytes,
// then live until the broadcast ends (offline), or in error with the
// reason.
const (
	OutputConnecting OutputStatus = "connecting"
	OutputLive       OutputStatus = "live"
	OutputOffline    OutputStatus = "offline"
	OutputError      OutputStatus = "error"
)

// Output is an RTMP output as it was when asked for.
type Output struct {
	URL    string
	Status OutputStatus
	Err    error // why it is in error
}

// outputQueue is how many reads of the encoder's stream an output may
// fall behind by (32 kB each, a few seconds at broadcast bitrates)
// before the reads it cannot take are dropped.
const outputQueue = 256

// output is an ffmpeg that copies the encoder's stream to one place.
type output struct {
	url  string // an RTMP output's; empty for HLS
	cmd  *exec.Cmd
	in   chan []byte
	done chan struct{} // closed once its ffmpeg ended

	mu      sync.Mutex
	status  OutputStatus
	err     error
	dropped int
}

// startOutput starts an ffmpeg that copies an MPEG-TS stream from its
// stdin with the output arguments args; an ffmpeg that cannot start is
// an output in error.
func startOutput(ffmpeg, url string, args ...string) *output {
	o := &output{url: url, in: make(chan []byte, outputQueue), done: make(chan struct{}), status: OutputConnecting}
	o.cmd = exec.Command(ffmpeg, append([]string{"-nostdin", "-v", "error", "-progress", "pipe:1", "-stats_period", "0.5",
		"-f", "mpegts", "-probesize", "65536", "-analyzeduration", "500000", "-i", "pipe:0", "-map", "0", "-c", "copy"}, args...)...)
	stderr := &lastLine{}
	o.cmd.Stderr = stderr
	stdin, err := o.cmd.StdinPipe()
	var progress io.Reader
	if err == nil {
		progress, err = o.cmd.StdoutPipe()
	}
	if err == nil {
		err = o.cmd.Start()
	}
	if err != nil {
		o.status, o.err = OutputError, fmt.Errorf("live: start %s: %w", ffmpeg, err)
		close(o.done)
		go o.drain()
		return o
	}
	watched := make(chan struct{})
	go func() {
		o.watch(progress)
		close(watched)
	}()
	go func() {
		for b := range o.in {
			if _, err := stdin.Write(b); err != nil {
				break
			}
		}
		_ = stdin.Close() // ffmpeg ends its stream
		go o.drain()
		kill := killLater(o.cmd)
		<-watched // its progress, read to the end before Wait closes the pipe
		err := o.cmd.Wait()
		kill.Stop()
		o.mu.Lock()
		defer o.mu.Unlock()
		switch {
		case err != nil:
			o.status, o.err = OutputError, fmt.Errorf("live: %w: %s", err, stderr.String())
		case o.status != OutputError:
			o.status = OutputOffline
		}
		close(o.done)
	}()
	return o
}

// watch reads ffmpeg's progress: the output is live once it wrote.
func (o *output) watch(progress io.Reader) {
	sc := bufio.NewScanner(progress)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "total_size=")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil && n > 0 {
			o.mu.Lock()
			if o.status == OutputConnecting {
				o.status = OutputLive
			}
			o.mu.Unlock()
		}
	}
}

// drain takes what is still sent to an output that ended.
func (o *output) drain() {
	for range o.in {
	}
}

// send queues b for the output; it reports whether the output goes on.
func (o *output) send(b []byte) bool {
	select {
	case <-o.done:
		return false
	default:
	}
	select {
	case o.in <- b:
	default:
		o.mu.Lock()
		o.dropped++
		o.mu.Unlock()
	}
	return true
}

// end ends the output's stream.
func (o *output) end() { close(o.in) }

func (o *output) snapshot() Output {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.err
	if err == nil && o.status == OutputError {
		err = errors.New("live: output failed")
	}
	return Output{URL: o.url, Status: o.status, Err: err}
}

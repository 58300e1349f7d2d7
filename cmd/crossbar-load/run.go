//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/client"
)

const (
	// setupTimeout bounds starting the host app and joining everyone.
	setupTimeout = 60 * time.Second
	// joinTimeout bounds one connection's connect, publish or subscribe.
	joinTimeout = 20 * time.Second
	// joinConcurrency is how many connections join at a time outside a storm.
	joinConcurrency = 8
	// settle is the pause before reading the idle and publishers-only RSS.
	settle = 2 * time.Second
)

// result is what one scenario measured.
type result struct {
	Scenario      string `json:"scenario"`
	Publishers    int    `json:"publishers"`
	Subscribers   int    `json:"subscribers"`
	Subscriptions int    `json:"subscriptions"`
	// PublishedPerSec counts the packets the server received from the
	// publishers a second, over the window.
	PublishedPerSec float64 `json:"publishedPerSec"`
	// ForwardedPerSec counts the packets the server handed to subscribers'
	// transports a second, over the window.
	ForwardedPerSec float64 `json:"forwardedPerSec"`
	// CPUPerPacketUS is the server's CPU time (user and system) over the
	// window divided by the packets it forwarded, in microseconds.
	CPUPerPacketUS float64 `json:"cpuPerPacketUs"`
	// ServerCPU and LoadCPU are the CPU used by the host app and by the
	// load process (every client) over the window, in cores.
	ServerCPU float64 `json:"serverCpu"`
	LoadCPU   float64 `json:"loadCpu"`
	// IdleMiB is the host app's RSS before anyone joined, PublishersMiB
	// once the publishers publish, RSSMiB at the end of the window.
	IdleMiB       float64 `json:"idleMiB"`
	PublishersMiB float64 `json:"publishersMiB"`
	RSSMiB        float64 `json:"rssMiB"`
	// PerSubscriberKiB is the RSS the subscribers added, per subscribing
	// connection.
	PerSubscriberKiB float64 `json:"perSubscriberKiB"`
	// LossPercent is the share of packets the server received from
	// publishers during the window that did not reach a subscriber.
	LossPercent   float64 `json:"lossPercent"`
	ServerDropped uint64  `json:"serverDropped"`
	// VideoOffAtEnd counts the video subscriptions receiving no video at
	// the end of the window: their bandwidth estimate turned it off.
	VideoOffAtEnd int `json:"videoOffAtEnd"`
	// ServerResent counts the retransmissions the server queued in answer
	// to subscribers' NACKs over the window, ServerSkipped the NACKed
	// packets it did not resend (already resent within an RTT, or the
	// subscriber's queue over half full).
	ServerResent  uint64 `json:"serverResent"`
	ServerSkipped uint64 `json:"serverSkipped"`
	// JoinP50MS, JoinP95MS and JoinMaxMS are the times from a subscribe
	// request to the subscription's first video packet (first audio packet
	// for audio-only streams); in a storm, from the start of the storm.
	JoinP50MS float64 `json:"joinP50Ms"`
	JoinP95MS float64 `json:"joinP95Ms"`
	JoinMaxMS float64 `json:"joinMaxMs"`
	// Runs is how many times the scenario ran (-count); the result is the
	// run with the median CPUPerPacketUS, and CPUPerPacketUSMin and Max
	// give the range over all runs.
	Runs              int     `json:"runs,omitempty"`
	CPUPerPacketUSMin float64 `json:"cpuPerPacketUsMin,omitempty"`
	CPUPerPacketUSMax float64 `json:"cpuPerPacketUsMax,omitempty"`
	Error             string  `json:"error,omitempty"`
}

// runScenario runs one scenario against a fresh host app.
func runScenario(cfg config, sc scenario) result {
	res := result{Scenario: sc.Name, Publishers: sc.Publishers, Subscribers: sc.Subscribers,
		Subscriptions: sc.Publishers * sc.subscribersPerStream()}
	r := &run{cfg: cfg, sc: sc}
	if err := r.measure(&res); err != nil {
		res.Error = err.Error()
	}
	r.stop()
	return res
}

// run is the state of one scenario run.
type run struct {
	cfg config
	sc  scenario
	api *webrtc.API

	host    *exec.Cmd
	stdin   io.Closer
	addr    string
	session string

	cancelMedia context.CancelFunc
	mediaDone   sync.WaitGroup

	mu       sync.Mutex
	sessions []*client.Session
	subs     []*client.Subscriber
	joins    []time.Duration
}

// snapshot is the counters at one end of the measuring window.
type snapshot struct {
	at        time.Time
	server    serverStats
	serverCPU time.Duration
	loadCPU   time.Duration
	received  uint64
	serverRSS uint64
}

func (r *run) measure(res *result) error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	api, err := newClientAPI()
	if err != nil {
		return err
	}
	r.api = api
	if err := r.startHost(ctx); err != nil {
		return err
	}
	time.Sleep(settle)
	idle, err := rss(r.host.Process.Pid)
	if err != nil {
		return err
	}
	res.IdleMiB = mib(idle)

	mediaCtx, cancelMedia := context.WithCancel(context.Background())
	r.cancelMedia = cancelMedia
	streams, err := r.publish(ctx, mediaCtx)
	if err != nil {
		return err
	}
	time.Sleep(settle)
	pubRSS, err := rss(r.host.Process.Pid)
	if err != nil {
		return err
	}
	res.PublishersMiB = mib(pubRSS)

	if err := r.subscribeAll(ctx, streams); err != nil {
		return err
	}
	joins := slices.Sorted(slices.Values(r.joins))
	if len(joins) > 0 {
		res.JoinP50MS = ms(joins[len(joins)/2])
		res.JoinP95MS = ms(joins[(len(joins)*95+99)/100-1])
		res.JoinMaxMS = ms(joins[len(joins)-1])
	}

	time.Sleep(r.cfg.warmup)
	profile := r.startProfile()
	a, err := r.snapshot()
	if err != nil {
		return err
	}
	time.Sleep(r.cfg.window)
	b, err := r.snapshot()
	if err != nil {
		return err
	}
	if err := profile(); err != nil {
		return err
	}
	if err := r.saveHeapProfile(ctx); err != nil {
		return err
	}

	secs := b.at.Sub(a.at).Seconds()
	forwarded := b.server.Forwarded - a.server.Forwarded
	res.ForwardedPerSec = float64(forwarded) / secs
	if forwarded > 0 {
		res.CPUPerPacketUS = float64((b.serverCPU - a.serverCPU).Microseconds()) / float64(forwarded)
	}
	res.ServerCPU = (b.serverCPU - a.serverCPU).Seconds() / secs
	res.LoadCPU = (b.loadCPU - a.loadCPU).Seconds() / secs
	res.RSSMiB = mib(b.serverRSS)
	res.PerSubscriberKiB = float64(int64(b.serverRSS)-int64(pubRSS)) / 1024 / float64(r.sc.Subscribers)
	if r.sc.Mutual {
		res.PerSubscriberKiB = float64(int64(b.serverRSS)-int64(idle)) / 1024 / float64(r.sc.receivers())
	}
	var published, expected uint64
	for id, n := range b.server.In {
		published += n - a.server.In[id]
		expected += (n - a.server.In[id]) * uint64(r.sc.subscribersPerStream())
	}
	res.PublishedPerSec = float64(published) / secs
	if received := b.received - a.received; expected > received {
		res.LossPercent = 100 * float64(expected-received) / float64(expected)
	}
	res.ServerDropped = b.server.Dropped - a.server.Dropped
	res.VideoOffAtEnd = b.server.VideoOff
	res.ServerResent = b.server.Resent - a.server.Resent
	res.ServerSkipped = b.server.Skipped - a.server.Skipped
	return nil
}

// newClientAPI builds the webrtc.API every client connection shares:
// Pion's default codecs, NACKs and RTCP reports (as browsers send them),
// loopback IPv4 candidates only.
func newClientAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, reg); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// startHost starts this program again with -serve and reads its address.
func (r *run) startHost(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-serve"}
	if r.cfg.pin {
		args = append(args, "-cpus", "0")
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start host app: %w", err)
	}
	r.host, r.stdin = cmd, stdin
	got := make(chan error, 1)
	var h hello
	go func() { got <- json.NewDecoder(stdout).Decode(&h) }()
	select {
	case err := <-got:
		if err != nil {
			return fmt.Errorf("host app: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("host app did not start: %w", ctx.Err())
	}
	r.addr, r.session = h.Addr, h.Session
	return nil
}

// stop ends the media, every client and the host app.
func (r *run) stop() {
	if r.cancelMedia != nil {
		r.cancelMedia()
	}
	r.mediaDone.Wait()
	var wg sync.WaitGroup
	sem := make(chan struct{}, joinConcurrency)
	for _, s := range r.sessions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			_ = s.Disconnect()
			<-sem
		}()
	}
	wg.Wait()
	if r.host == nil {
		return
	}
	_ = r.stdin.Close() // the host app exits when its stdin closes
	exited := make(chan struct{})
	go func() {
		_ = r.host.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = r.host.Process.Kill()
		<-exited
	}
}

// connect joins the session as a new client connection with the given role.
func (r *run) connect(ctx context.Context, role string) (*client.Session, error) {
	token, err := r.get(ctx, "/load/token?role="+role)
	if err != nil {
		return nil, err
	}
	s, err := client.Connect(ctx, "ws://"+r.addr+"/crossbar/ws", string(token),
		&client.Options{ReconnectFor: -1, Media: client.MediaOptions{API: r.api}})
	if err != nil {
		return nil, err
	}
	go func() {
		for range s.Events() {
		}
	}()
	r.mu.Lock()
	r.sessions = append(r.sessions, s)
	r.mu.Unlock()
	return s, nil
}

// get fetches a path of the host app's HTTP server.
func (r *run) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return b, nil
}

// publish connects the publishers, starts their synthetic media (until
// mediaCtx ends) and returns their sessions and stream ids.
func (r *run) publish(ctx, mediaCtx context.Context) (map[*client.Session]string, error) {
	streams := map[*client.Session]string{}
	var mu sync.Mutex
	err := r.each(ctx, r.sc.Publishers, joinConcurrency, func(ctx context.Context, i int) error {
		s, err := r.connect(ctx, "publisher")
		if err != nil {
			return err
		}
		p, err := s.Publish(ctx, client.PublishOptions{
			Name:  "load-" + strconv.Itoa(i),
			Audio: true, Video: !r.sc.AudioOnly,
			Width: 1280, Height: 720,
		})
		if err != nil {
			return err
		}
		r.mediaDone.Add(1)
		go func() {
			defer r.mediaDone.Done()
			// The synthetic VP8 picture is small; padding brings its
			// frames to the bitrate of a 720p camera.
			_ = p.Synthesize(mediaCtx, client.SynthOptions{FrameRate: r.cfg.fps, Bitrate: r.cfg.bitrate})
		}()
		if _, err := p.WaitCreated(ctx); err != nil {
			return err
		}
		mu.Lock()
		streams[s] = p.StreamID()
		mu.Unlock()
		return nil
	})
	return streams, err
}

// subscribeAll connects the subscribers and subscribes them, and with
// Mutual every publisher, to the streams, recording join latencies.
func (r *run) subscribeAll(ctx context.Context, streams map[*client.Session]string) error {
	var publishers []*client.Session
	for s := range streams {
		publishers = append(publishers, s)
	}
	if r.sc.Mutual {
		err := r.each(ctx, len(publishers), joinConcurrency, func(ctx context.Context, i int) error {
			s := publishers[i]
			for other, id := range streams {
				if other == s {
					continue
				}
				if err := r.subscribe(ctx, s, id, time.Now()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	concurrency := joinConcurrency
	if r.sc.Storm {
		concurrency = r.sc.Subscribers
	}
	start := time.Now()
	return r.each(ctx, r.sc.Subscribers, concurrency, func(ctx context.Context, i int) error {
		s, err := r.connect(ctx, "subscriber")
		if err != nil {
			return err
		}
		for _, id := range streams {
			from := time.Now()
			if r.sc.Storm {
				from = start
			}
			if err := r.subscribe(ctx, s, id, from); err != nil {
				return err
			}
		}
		return nil
	})
}

// subscribe subscribes s to a stream and waits for its first video packet
// (audio for audio-only streams), recording the time since from.
func (r *run) subscribe(ctx context.Context, s *client.Session, streamID string, from time.Time) error {
	sub, err := s.Subscribe(ctx, streamID, client.SubscribeOptions{Audio: true, Video: true, QueueSize: 16})
	if err != nil {
		return err
	}
	want := webrtc.RTPCodecTypeVideo
	if r.sc.AudioOnly {
		want = webrtc.RTPCodecTypeAudio
	}
	for {
		_, kind, err := sub.ReadRTP(ctx)
		if err != nil {
			return fmt.Errorf("subscription to %s: %w", streamID, err)
		}
		if kind == want {
			break
		}
	}
	// From now on packets are only counted: the queue fills and stays full.
	r.mu.Lock()
	r.joins = append(r.joins, time.Since(from))
	r.subs = append(r.subs, sub)
	r.mu.Unlock()
	return nil
}

// each runs f for 0..n-1, at most concurrency at a time, each within
// joinTimeout, and returns the first error.
func (r *run) each(ctx context.Context, n, concurrency int, f func(context.Context, int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, joinTimeout)
			defer cancel()
			errs[i] = f(ctx, i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// snapshot reads every counter the window needs.
func (r *run) snapshot() (snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var sn snapshot
	b, err := r.get(ctx, "/load/stats")
	if err != nil {
		return sn, err
	}
	if err := json.Unmarshal(b, &sn.server); err != nil {
		return sn, err
	}
	sn.at = time.Now()
	pid := r.host.Process.Pid
	if sn.serverCPU, err = cpuTime(pid); err != nil {
		return sn, err
	}
	if sn.serverRSS, err = rss(pid); err != nil {
		return sn, err
	}
	if sn.loadCPU, err = cpuTime(os.Getpid()); err != nil {
		return sn, err
	}
	r.mu.Lock()
	for _, sub := range r.subs {
		st := sub.Stats()
		sn.received += st.Audio.Packets + st.Video.Packets
	}
	r.mu.Unlock()
	return sn, nil
}

// startProfile starts fetching the host app's CPU profile for the window
// when -cpuprofile is set; the returned function waits for it and saves it.
func (r *run) startProfile() func() error {
	if r.cfg.cpuProfile == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.window+30*time.Second)
		defer cancel()
		secs := int(r.cfg.window.Seconds())
		b, err := r.get(ctx, "/debug/pprof/profile?seconds="+strconv.Itoa(max(secs, 1)))
		if err == nil {
			err = os.WriteFile(r.cfg.cpuProfile+"-"+r.sc.Name+".pprof", b, 0o644)
		}
		done <- err
	}()
	return func() error { return <-done }
}

// saveHeapProfile saves the host app's heap profile when -memprofile is set.
func (r *run) saveHeapProfile(ctx context.Context) error {
	if r.cfg.memProfile == "" {
		return nil
	}
	b, err := r.get(ctx, "/debug/pprof/heap")
	if err != nil {
		return err
	}
	return os.WriteFile(r.cfg.memProfile+"-"+r.sc.Name+".pprof", b, 0o644)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
	"github.com/crossbar-rtc/crossbar/signaling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// movedWithin is how soon every subscription must have media again after
// a node is killed: 5 s is the aim; the bound leaves room for a busy
// machine.
const movedWithin = 10 * time.Second

// running is the example run as a program: its load balancer's URL and the
// process ids of its nodes, by node id, and of its redis-server.
type running struct {
	url   string
	pids  map[string]int
	redis int
	http  *http.Client
}

var (
	redisLine = regexp.MustCompile(`msg="redis-server started" pid=(\d+)`)
	nodeLine  = regexp.MustCompile(`msg="node started" node=(\S+) pid=(\d+)`)
	openLine  = regexp.MustCompile(`msg="cluster: open (http://\S+)/\?room=demo"`)
)

// run builds the example and runs it, with its own redis-server, until the
// test ends; then it interrupts it and checks that it and its nodes exit.
func run(t *testing.T) *running {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	bin := filepath.Join(t.TempDir(), "cluster")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	out, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{pids: map[string]int{}, http: &http.Client{}}
	var log strings.Builder // what it wrote, read once it has exited
	open := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		for sc := bufio.NewScanner(out); sc.Scan(); {
			line := sc.Text()
			log.WriteString(line + "\n")
			if m := redisLine.FindStringSubmatch(line); m != nil {
				r.redis, _ = strconv.Atoi(m[1])
			}
			if m := nodeLine.FindStringSubmatch(line); m != nil {
				r.pids[m[1]], _ = strconv.Atoi(m[2]) // read once open is sent
			}
			if m := openLine.FindStringSubmatch(line); m != nil {
				open <- m[1]
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		_ = w.Close()
		<-scanned
		exited <- err
	}()
	t.Cleanup(func() {
		r.http.CloseIdleConnections()
		_ = cmd.Process.Signal(os.Interrupt)
		var err error
		select {
		case err = <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			err = errors.Join(errors.New("did not exit within 30 s of an interrupt"), <-exited)
		}
		if err != nil {
			t.Errorf("the example, interrupted: %v\n%s", err, log.String())
		} else if t.Failed() {
			t.Logf("the example's log:\n%s", log.String())
		}
		children := maps.Clone(r.pids)
		if r.redis != 0 {
			children["redis-server"] = r.redis
		}
		for name, pid := range children {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("%s (pid %d) outlived the example: %v", name, pid, err)
			}
		}
	})
	select {
	case r.url = <-open:
	case err := <-exited:
		t.Fatalf("the example exited: %v\n%s", err, log.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the example did not serve within 30 s")
	}
	if len(r.pids) != 3 || r.redis == 0 {
		t.Fatalf("the example started nodes %v and redis-server %d, want 3 nodes and a redis-server", r.pids, r.redis)
	}
	return r
}

// join connects a client through the load balancer to the named room, and
// publishes synthetic audio and video until ctx ends.
func (r *running) join(ctx context.Context, t *testing.T, wg *sync.WaitGroup, room, name string) *member {
	t.Helper()
	q := url.Values{"room": {room}, "name": {name}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/token?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var creds app.Credentials
	err = json.NewDecoder(resp.Body).Decode(&creds)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("a token for %s: %s: %v", name, resp.Status, err)
	}
	ws := "ws" + strings.TrimPrefix(r.url, "http") + "/crossbar/ws"
	s, err := client.Connect(ctx, ws, creds.Token, &client.Options{Media: client.MediaOptions{LoopbackOnly: true}})
	if err != nil {
		t.Fatalf("%s connecting: %v", name, err)
	}
	t.Cleanup(func() { _ = s.Disconnect() })
	pub, err := s.Publish(ctx, client.PublishOptions{Name: name, Audio: true, Video: true})
	if err != nil {
		t.Fatalf("%s publishing: %v", name, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = pub.Synthesize(ctx, client.SynthOptions{}) // ends with ctx
	}()
	if _, err := pub.WaitCreated(ctx); err != nil { // the server announces it once media arrives
		t.Fatalf("%s publishing: %v", name, err)
	}
	return &member{Session: s, name: name, stream: pub.StreamID(), id: s.Connection().ID}
}

// member is a client of the test, publishing a stream, and its
// subscriptions to the others' streams.
type member struct {
	*client.Session
	name, id string
	stream   string
	subs     []*client.Subscriber
	heard    map[string][]int // the numbers of the chatter's signals got, by sender
	ended    map[string]bool  // senders whose last signal came
}

// awaitStreams reads m's events until it has seen the streams ids created.
func (m *member) awaitStreams(t *testing.T, ids ...string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for seen := map[string]bool{}; ; {
		for _, st := range m.Streams() {
			seen[st.ID] = true
		}
		if !slices.ContainsFunc(ids, func(id string) bool { return !seen[id] }) {
			return
		}
		select {
		case ev := <-m.Events():
			m.note(ev)
		case <-timeout:
			t.Fatalf("%s saw streams %v, want %v", m.name, seen, ids)
		}
	}
}

// receive subscribes m to a stream and reads its audio and video packets
// until enough of each arrived.
func (m *member) receive(ctx context.Context, t *testing.T, other *member) {
	t.Helper()
	start := time.Now()
	sub, err := m.Subscribe(ctx, other.stream, client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatalf("%s subscribing to %s: %v", m.name, other.name, err)
	}
	m.subs = append(m.subs, sub)
	var audio, video int
	for audio < 25 || video < 25 {
		_, kind, err := sub.ReadRTP(ctx)
		if err != nil {
			t.Fatalf("%s, after %d audio and %d video packets of %s: %v", m.name, audio, video, other.name, err)
		}
		if kind == webrtc.RTPCodecTypeAudio {
			audio++
		} else {
			video++
		}
	}
	t.Logf("%s got 25 audio and 25 video packets of %s %v after subscribing", m.name, other.name, time.Since(start).Round(time.Millisecond))
}

// stop stops node id with sig: SIGKILL, as kill -9 does, or SIGTERM, as a
// rolling deploy does, which has the node drain its clients to the others.
// The clients it served resume their connections through the balancer on
// the live nodes, with the same ids, and publish and subscribe again:
// every subscription of every client gets media again, and nobody sees
// anyone leave; after a drain, nobody was told of reconnecting either. It
// returns how long the last subscription took to get 25 more video
// packets.
func (r *running) stop(t *testing.T, id string, sig syscall.Signal, members []*member) time.Duration {
	t.Helper()
	pid, ok := r.pids[id]
	if !ok {
		t.Fatalf("no node %s to stop", id)
	}
	before := map[*client.Subscriber]uint64{}
	for _, m := range members {
		for _, sub := range m.subs {
			before[sub] = sub.Stats().Video.Packets
		}
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("stop node %s: %v", id, err)
	}
	start := time.Now()
	var back time.Duration
	for sub, n := range before {
		// 25 packets: a few frames, which came over the new path.
		for sub.Stats().Video.Packets < n+25 {
			if time.Since(start) > movedWithin {
				t.Fatalf("a subscription to %s got %d video packets in %v after stopping node %s (%v)", sub.StreamID(), sub.Stats().Video.Packets-n, movedWithin, id, sig)
			}
			time.Sleep(10 * time.Millisecond)
		}
		back = max(back, time.Since(start))
	}
	t.Logf("node %s stopped (%v): every subscription had 25 more video packets %v later", id, sig, back.Round(10*time.Millisecond))
	for _, m := range members {
		if m.Connection().ID != m.id {
			t.Errorf("%s is connection %s now, was %s", m.name, m.Connection().ID, m.id)
		}
		for {
			select {
			case ev := <-m.Events():
				m.note(ev)
				switch ev.Type {
				case signaling.TypeConnectionDestroyed, signaling.TypeStreamDestroyed, signaling.TypeSessionDisconnected:
					t.Errorf("%s saw %s %+v %+v", m.name, ev.Type, ev.Connection, ev.Stream)
				case client.TypeReconnecting:
					if sig == syscall.SIGTERM {
						t.Errorf("%s was told of reconnecting while its node drained", m.name)
					}
				}
				continue
			default:
			}
			break
		}
		listed(t, m, names(members))
	}
	return back
}

// names returns the names the members joined with.
func names(members []*member) []string {
	var list []string
	for _, m := range members {
		list = append(list, m.name)
	}
	return list
}

// listed checks that m lists exactly the connections of the names.
func listed(t *testing.T, m *member, names []string) {
	t.Helper()
	got, want := map[string]bool{}, map[string]bool{}
	for _, c := range m.Connections() {
		got[c.Data] = true
	}
	for _, name := range names {
		want[name] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s lists %v, want %v", m.name, got, want)
	}
}

// TestThreeProcessNodes runs the example as it runs by hand: three node
// processes behind its load balancer. Three Go clients joining one room
// through it land on the three nodes, and each receives the others' media.
// Stopped with SIGTERM, as a rolling deploy does, a node drains: its client
// moves through the balancer to a live node, with its connection and
// stream ids; every subscription gets media again within movedWithin, and
// nobody sees anyone leave. So again when the next node is killed with -9,
// which leaves all three on the last node; a newcomer then finds them
// there. The Go clients signal the room all along: each gets every signal
// once, in order.
func TestThreeProcessNodes(t *testing.T) {
	r := run(t)
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	var publishers sync.WaitGroup
	defer publishers.Wait()
	defer cancel()
	var members []*member
	for i := range 3 {
		members = append(members, r.join(ctx, t, &publishers, "r", fmt.Sprint("c", i+1)))
	}
	for _, m := range members {
		var others []string
		for _, o := range members {
			if o != m {
				others = append(others, o.stream)
			}
		}
		m.awaitStreams(t, others...)
	}
	for _, m := range members {
		for _, o := range members {
			if o != m {
				m.receive(ctx, t, o)
			}
		}
	}

	ch := chat(members)
	r.stop(t, "n2", syscall.SIGTERM, members)
	r.stop(t, "n3", syscall.SIGKILL, members)
	ch.check(t, members)
	late := r.join(ctx, t, &publishers, "r", "late")
	listed(t, late, names(append(members, late)))
}

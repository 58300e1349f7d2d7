package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu          sync.Mutex
	messages    []string
	members     map[string]cluster.Node
	reconnected int
	changed     chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) update(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) Message(topic string, payload []byte) {
	r.update(func() { r.messages = append(r.messages, topic+" "+string(payload)) })
}
func (r *recorder) Members(alive map[string]cluster.Node) { r.update(func() { r.members = alive }) }
func (r *recorder) Reconnected()                          { r.update(func() { r.reconnected++ }) }

// wait waits until ok holds of the recorder, or fails the test.
func (r *recorder) wait(t *testing.T, what string, ok func(r *recorder) bool) {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		done := ok(r)
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("%s: not within 15s", what)
		}
	}
}

func join(t *testing.T, srv *redistest.Server, id string, h cluster.Handler) *cluster.Redis {
	t.Helper()
	c := srv.Client()
	t.Cleanup(func() { c.Close() })
	bus, err := cluster.NewRedis(context.Background(), cluster.RedisOptions{
		Client: c, Node: cluster.Node{ID: id, MediaAddr: "127.0.0.1:1"},
		HeartbeatInterval: 100 * time.Millisecond, NodeTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	bus.Listen(h)
	return bus
}

// TestRedisBus: messages reach every subscribed node in one order, records
// are shared, and members come and go.
func TestRedisBus(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	ra, rb := newRecorder(), newRecorder()
	a, b := join(t, srv, "a", ra), join(t, srv, "b", rb)
	defer b.Close()
	ra.wait(t, "a sees both nodes", func(r *recorder) bool { return len(r.members) == 2 })
	if got := ra.members["b"].MediaAddr; got != "127.0.0.1:1" {
		t.Errorf("node b's media address is %q", got)
	}
	for _, bus := range []*cluster.Redis{a, b} {
		if err := bus.Subscribe(ctx, "session:1"); err != nil {
			t.Fatal(err)
		}
	}
	// Two nodes publish at once; both hear the same sequence.
	var wg sync.WaitGroup
	for _, bus := range []*cluster.Redis{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if err := bus.Publish(ctx, "session:1", []byte(fmt.Sprint(bus.Node().ID, i))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	all := func(r *recorder) bool { return len(r.messages) >= 200 }
	ra.wait(t, "a hears 200", all)
	rb.wait(t, "b hears 200", all)
	if x, y := ra.snapshot(), rb.snapshot(); !slices.Equal(x, y) || len(x) != 200 {
		t.Errorf("the nodes heard different sequences:\n%v\n%v", x, y)
	}

	if err := a.Put(ctx, "conns", "c1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "conns", "c1")
	if err != nil || string(got) != "one" {
		t.Fatalf("b reads %q, %v", got, err)
	}
	if err := b.Delete(ctx, "conns", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "conns", "c1"); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("a deleted record: %v, want ErrNotFound", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "b sees a leave", func(r *recorder) bool { _, ok := r.members["a"]; return len(r.members) == 1 && !ok })
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.messages)
}

// TestRedisLost: a bus that cannot reach Redis says so; a node whose Redis
// comes back hears its topics again and is told to resync; a node that
// stops beating leaves the members.
func TestRedisLost(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()

	bad := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer bad.Close()
	if _, err := cluster.NewRedis(ctx, cluster.RedisOptions{Client: bad, Node: cluster.Node{ID: "x"}}); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("NewRedis without a server: %v, want ErrUnavailable", err)
	}

	ra, rb := newRecorder(), newRecorder()
	a := join(t, srv, "a", ra)
	defer a.Close()
	if err := a.Subscribe(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := a.Publish(ctx, "t", []byte("lost")); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("Publish without Redis: %v, want ErrUnavailable", err)
	}
	srv.Start()
	ra.wait(t, "a told to resync", func(r *recorder) bool { return r.reconnected > 0 })
	b := join(t, srv, "b", rb)
	if err := b.Publish(ctx, "t", []byte("back")); err != nil {
		t.Fatal(err)
	}
	ra.wait(t, "a hears its topic again", func(r *recorder) bool { return slices.Contains(r.messages, "t back") })
	ra.wait(t, "a sees b", func(r *recorder) bool { return len(r.members) == 2 })

	// b's process dies: no goodbye, its heartbeats stop.
	b.Halt()
	start := time.Now()
	ra.wait(t, "a sees b go", func(r *recorder) bool { return len(r.members) == 1 })
	t.Logf("a dead node left the members after %v (timeout 500ms, heartbeat 100ms)", time.Since(start).Round(time.Millisecond))
}

// TestRedisClaim: of two nodes that claim a key at once, one gets it; the
// key is free again once its claim expires.
func TestRedisClaim(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := join(t, srv, "a", newRecorder()), join(t, srv, "b", newRecorder())
	defer a.Close()
	defer b.Close()
	const ttl = 300 * time.Millisecond
	got := make(chan bool, 2)
	for _, bus := range []*cluster.Redis{a, b} {
		go func() {
			ok, err := bus.Claim(ctx, "jti:1", ttl)
			if err != nil {
				t.Error(err)
			}
			got <- ok
		}()
	}
	if x, y := <-got, <-got; x == y {
		t.Fatalf("both claims got %v, want one true", x)
	}
	if ok, err := a.Claim(ctx, "jti:2", ttl); !ok || err != nil {
		t.Fatalf("another key: %v, %v", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := b.Claim(ctx, "jti:1", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the claim did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

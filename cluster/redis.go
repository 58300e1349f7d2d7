package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a Redis bus.
type RedisOptions struct {
	// Client reaches the Redis server every node shares.
	Client *redis.Client
	// Node is this node; its ID must be unique in the cluster.
	Node Node
	// Prefix starts every key and channel name; empty means "crossbar:".
	// Clusters that share a Redis server differ in it.
	Prefix string
	// HeartbeatInterval is how often the node says it is alive, and
	// checks who else is; NodeTimeout is how long a silent node stays a
	// member. Zero means 1 s and 3 s.
	HeartbeatInterval time.Duration
	NodeTimeout       time.Duration
}

// Redis is a Bus on a Redis server: pub/sub channels for topics, hashes
// for sets of records, and a sorted set of heartbeats for membership.
type Redis struct {
	opts   RedisOptions
	rdb    *redis.Client
	ps     *redis.PubSub // replaced when deaf (receive); guarded by mu
	calls  chan func()   // to the Handler, in order
	cancel context.CancelFunc
	wg     sync.WaitGroup        // the heartbeat and the subscriber, which make calls
	done   chan struct{}         // closed when the calls are all made
	health atomic.Pointer[error] // the last heartbeat's error

	mu        sync.Mutex
	h         Handler
	confirmed map[string]bool            // channels whose subscription Redis confirmed
	waiting   map[string][]chan struct{} // Subscribe calls waiting for that
	lastSync  time.Time
}

// NewRedis joins the node to the cluster on opts.Client's server. It fails
// if the server cannot be reached or the node id is taken by a live node.
func NewRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	if opts.Client == nil || opts.Node.ID == "" || strings.ContainsAny(opts.Node.ID, " \n") {
		return nil, fmt.Errorf("cluster: a Redis bus needs a client and a node id without spaces")
	}
	if opts.Prefix == "" {
		opts.Prefix = "crossbar:"
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = 3 * time.Second
	}
	r := &Redis{opts: opts, rdb: opts.Client, calls: make(chan func(), 1024), confirmed: map[string]bool{}, waiting: map[string][]chan struct{}{}}
	score, err := r.rdb.ZScore(ctx, r.key("alive"), opts.Node.ID).Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return nil, r.unavailable("join", err)
	case time.Since(time.UnixMilli(int64(score))) < opts.NodeTimeout:
		return nil, fmt.Errorf("cluster: node id %q is in use by a live node", opts.Node.ID)
	}
	if err := r.beat(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Node returns the node this bus serves.
func (r *Redis) Node() Node { return r.opts.Node }

func (r *Redis) key(name string) string { return r.opts.Prefix + name }

func (r *Redis) unavailable(what string, err error) error {
	return fmt.Errorf("%w: redis %s: %w", ErrUnavailable, what, err)
}

// Listen sets h and starts the node's heartbeat and its subscriber.
func (r *Redis) Listen(h Handler) {
	r.mu.Lock()
	r.h = h
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.ps = r.rdb.Subscribe(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		for f := range r.calls {
			f()
		}
	}()
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		r.receive(ctx)
	}()
	go func() {
		defer r.wg.Done()
		r.heartbeat(ctx)
	}()
}

// receive hands the subscriber's messages to the Handler until ctx ends.
// It pings when nothing comes for a HeartbeatInterval. A subscriber that
// hears nothing, not even the answers to its pings, for NodeTimeout is
// deaf: its connection died without closing (a partition, a NAT that
// forgot it), which go-redis does not notice. It is replaced by a new one
// on the same channels.
func (r *Redis) receive(ctx context.Context) {
	heard := time.Now()
	for ctx.Err() == nil {
		ps := r.subscriber()
		m, err := ps.ReceiveTimeout(ctx, r.opts.HeartbeatInterval)
		switch {
		case err == nil:
			heard = time.Now()
			r.deliver(m)
		case ctx.Err() != nil:
			return
		case time.Since(heard) > r.opts.NodeTimeout:
			r.resubscribe(ctx, ps)
			heard = time.Now()
		case isTimeout(err):
			_ = ps.Ping(ctx) // its answer counts as heard
		default:
			sleep(ctx, 100*time.Millisecond) // Redis is down: go-redis dials again
		}
	}
}

// deliver hands a message of the subscriber to the Handler, in order. A
// channel whose subscription is confirmed a second time was subscribed
// again after the connection to Redis was lost: the Handler is told to
// resync.
func (r *Redis) deliver(m any) {
	switch m := m.(type) {
	case *redis.Message:
		topic, payload := strings.TrimPrefix(m.Channel, r.opts.Prefix), []byte(m.Payload)
		r.calls <- func() { r.handler().Message(topic, payload) }
	case *redis.Subscription:
		r.confirm(m)
	}
}

// subscriber returns the current subscriber.
func (r *Redis) subscriber() *redis.PubSub {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ps
}

// resubscribe replaces the deaf subscriber old with a new one on the
// channels subscribed or being subscribed; their confirmations tell the
// Handler to resync.
func (r *Redis) resubscribe(ctx context.Context, old *redis.PubSub) {
	r.mu.Lock()
	if ctx.Err() != nil {
		r.mu.Unlock()
		return // closing
	}
	channels := slices.Collect(maps.Keys(r.confirmed))
	for k := range r.waiting {
		channels = append(channels, k)
	}
	r.ps = r.rdb.Subscribe(ctx, channels...)
	r.mu.Unlock()
	_ = old.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *Redis) confirm(m *redis.Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m.Kind {
	case "unsubscribe":
		delete(r.confirmed, m.Channel)
	case "subscribe":
		again := r.confirmed[m.Channel]
		r.confirmed[m.Channel] = true
		for _, w := range r.waiting[m.Channel] {
			close(w)
		}
		delete(r.waiting, m.Channel)
		if again && time.Since(r.lastSync) > r.opts.HeartbeatInterval {
			r.lastSync = time.Now()
			r.calls <- func() { r.handler().Reconnected() }
		}
	}
}

func (r *Redis) handler() Handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h
}

// heartbeat says the node is alive every HeartbeatInterval and reports
// the members whenever they change. After the bus was lost, no node could
// beat: the members are reported again only once each had NodeTimeout to
// beat anew, or all would look dead.
func (r *Redis) heartbeat(ctx context.Context) {
	tick := time.NewTicker(r.opts.HeartbeatInterval)
	defer tick.Stop()
	var last map[string]Node
	var lost bool
	var settled time.Time // when members may be reported again
	for {
		err := r.beat(ctx)
		r.health.Store(&err)
		switch {
		case err != nil:
			lost = true
		case lost:
			lost, settled = false, time.Now().Add(r.opts.NodeTimeout)
		case time.Now().After(settled):
			if alive, err := r.members(ctx); err == nil && !maps.Equal(alive, last) {
				last = alive
				r.calls <- func() { r.handler().Members(alive) }
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Err returns the error of the node's last heartbeat.
func (r *Redis) Err() error {
	if err := r.health.Load(); err != nil {
		return *err
	}
	return nil
}

// beat records the node as alive now, with its description.
func (r *Redis) beat(ctx context.Context) error {
	desc, err := json.Marshal(r.opts.Node)
	if err != nil {
		return err
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, r.key("alive"), redis.Z{Score: float64(time.Now().UnixMilli()), Member: r.opts.Node.ID})
		p.HSet(ctx, r.key("nodes"), r.opts.Node.ID, desc)
		return nil
	})
	if err != nil {
		return r.unavailable("heartbeat", err)
	}
	return nil
}

// members returns the nodes that beat within NodeTimeout.
func (r *Redis) members(ctx context.Context) (map[string]Node, error) {
	since := time.Now().Add(-r.opts.NodeTimeout).UnixMilli()
	ids, err := r.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: r.key("alive"), ByScore: true, Start: strconv.FormatInt(since, 10), Stop: "+inf"}).Result()
	if err != nil {
		return nil, r.unavailable("members", err)
	}
	alive := make(map[string]Node, len(ids))
	if len(ids) == 0 {
		return alive, nil
	}
	descs, err := r.rdb.HMGet(ctx, r.key("nodes"), ids...).Result()
	if err != nil {
		return nil, r.unavailable("members", err)
	}
	for i, id := range ids {
		n := Node{ID: id}
		if s, ok := descs[i].(string); ok {
			_ = json.Unmarshal([]byte(s), &n) // a bad description leaves the id
			n.ID = id
		}
		alive[id] = n
	}
	return alive, nil
}

// Publish sends payload on topic's channel.
func (r *Redis) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := r.rdb.Publish(ctx, r.key(topic), payload).Err(); err != nil {
		return r.unavailable("publish", err)
	}
	return nil
}

// Subscribe adds topics to the node's subscriber, and returns once Redis
// confirmed them: messages published from then on reach the Handler.
func (r *Redis) Subscribe(ctx context.Context, topics ...string) error {
	keys := r.keys(topics)
	var waits []chan struct{}
	r.mu.Lock()
	for _, k := range keys {
		if !r.confirmed[k] {
			w := make(chan struct{})
			r.waiting[k] = append(r.waiting[k], w)
			waits = append(waits, w)
		}
	}
	r.mu.Unlock()
	if err := r.subscriber().Subscribe(ctx, keys...); err != nil {
		return r.unavailable("subscribe", err)
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return r.unavailable("subscribe", ctx.Err())
		}
	}
	return nil
}

// Unsubscribe removes topics from the node's subscriber.
func (r *Redis) Unsubscribe(ctx context.Context, topics ...string) error {
	if err := r.subscriber().Unsubscribe(ctx, r.keys(topics)...); err != nil {
		return r.unavailable("unsubscribe", err)
	}
	return nil
}

func (r *Redis) keys(names []string) []string {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = r.key(n)
	}
	return keys
}

// Put sets a record of a set.
func (r *Redis) Put(ctx context.Context, set, key string, value []byte) error {
	if err := r.rdb.HSet(ctx, r.key("set:"+set), key, value).Err(); err != nil {
		return r.unavailable("put", err)
	}
	return nil
}

// Get returns a record of a set.
func (r *Redis) Get(ctx context.Context, set, key string) ([]byte, error) {
	b, err := r.rdb.HGet(ctx, r.key("set:"+set), key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, ErrNotFound
	case err != nil:
		return nil, r.unavailable("get", err)
	}
	return b, nil
}

// Delete removes records of a set.
func (r *Redis) Delete(ctx context.Context, set string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := r.rdb.HDel(ctx, r.key("set:"+set), keys...).Err(); err != nil {
		return r.unavailable("delete", err)
	}
	return nil
}

// Records returns every record of a set.
func (r *Redis) Records(ctx context.Context, set string) (map[string][]byte, error) {
	all, err := r.rdb.HGetAll(ctx, r.key("set:"+set)).Result()
	if err != nil {
		return nil, r.unavailable("records", err)
	}
	out := make(map[string][]byte, len(all))
	for k, v := range all {
		out[k] = []byte(v)
	}
	return out, nil
}

// Claim claims a key with SET NX: it expires after ttl.
func (r *Redis) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := r.rdb.SetNX(ctx, r.key("claim:"+key), 1, ttl).Result()
	if err != nil {
		return false, r.unavailable("claim", err)
	}
	return ok, nil
}

// Close stops the heartbeat and the subscriber, waits for the Handler's
// last call, and takes the node out of the members at once. The Redis
// client stays open: it is the caller's. The Handler must not call Close.
func (r *Redis) Close() error {
	if r.cancel != nil {
		r.cancel()
		_ = r.subscriber().Close() // ends the subscriber's wait
		r.wg.Wait()
		_ = r.subscriber().Close() // one that replaced it meanwhile
		close(r.calls)
		<-r.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.rdb.ZRem(ctx, r.key("alive"), r.opts.Node.ID).Err(); err != nil {
		return r.unavailable("leave", err)
	}
	return nil
}

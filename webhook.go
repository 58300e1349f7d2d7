package crossbar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// WebhookConfig configures the session-monitoring callbacks: Crossbar
// POSTs OpenTok's JSON for connectionCreated, connectionDestroyed,
// streamCreated and streamDestroyed to URL, as OpenTok's session
// monitoring does, and OpenTok's archive status callbacks: the archive's
// JSON, as the REST API gives it, with "event": "archive", each time its
// status changes (started, paused, started again, stopped, then available
// or failed). Each node sends those of the connections and streams it
// serves, and of the archives it records.
//
// The events of a session are delivered one at a time, in their order;
// sessions are spread over webhookLanes lanes that deliver side by side, so
// a slow receiver or a busy host still keeps up with many sessions. The
// queue never makes a session wait: when it is full, events are dropped,
// counted (WebhookStats) and logged. Close delivers what is queued, each
// event tried once, for at most Timeout. A delivery that fails (no answer
// within Timeout, a 5xx, 408 or 429) is tried again after Backoff, then
// after twice as long each time, Retries times; other answers are final.
type WebhookConfig struct {
	// URL receives the events; empty sends none.
	URL string
	// Secret, if set, signs each delivery as OpenTok's secure callbacks:
	// its Authorization header is "Bearer " and a JWT signed with Secret
	// (HS256) whose payload_hash claim is the hex SHA-256 of the body
	// (see VerifyWebhook).
	Secret string
	// Timeout bounds each attempt. Zero means 5 s.
	Timeout time.Duration
	// Retries is how many times a failed delivery is tried again. Zero
	// means 5; negative, none.
	Retries int
	// Backoff is the wait before the first retry. Zero means 1 s.
	Backoff time.Duration
	// QueueSize is how many events may wait for delivery. Zero means 1000.
	QueueSize int
}

// WebhookStats count the session-monitoring callbacks' deliveries.
type WebhookStats struct {
	Delivered uint64 // answered with a 2xx
	Failed    uint64 // given up after their retries, or refused
	Dropped   uint64 // not queued (the queue was full), or not sent before Close gave up
}

// WebhookStats returns the counts of the server's webhook deliveries.
func (srv *Server) WebhookStats() WebhookStats {
	return WebhookStats{Delivered: srv.hooks.delivered.Load(), Failed: srv.hooks.failed.Load(), Dropped: srv.hooks.dropped.Load()}
}

// webhookLanes is how many deliveries may be under way at once, each of
// a different session.
const webhookLanes = 8

// webhooks delivers events to the webhook URL, from its queue, on
// goroutines of its own (run): one for each lane.
type webhooks struct {
	cfg    WebhookConfig
	apiKey string
	log    *slog.Logger
	client *http.Client
	// lanes queue JSON-encodable events, each session's in one lane;
	// queued counts them all, up to cfg.QueueSize.
	lanes  [webhookLanes]chan any
	queued atomic.Int64
	// ctx ends the attempts under way when close gives up on the queue;
	// stop is closed when close begins, done when run returns.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	delivered, failed, dropped atomic.Uint64
	lastDropLog                atomic.Int64 // Unix ns
}

// checkCallbackURL returns an error unless u is an http(s) URL.
func checkCallbackURL(what, u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("%w: %s %q is not an http(s) URL", ErrInvalidOption, what, u)
	}
	return nil
}

// newWebhooks returns the server's webhooks. Without cfg.URL, they send
// only the events that name their own URL (addressed).
func newWebhooks(cfg WebhookConfig, apiKey string, log *slog.Logger) (*webhooks, error) {
	if cfg.URL != "" {
		if err := checkCallbackURL("webhook URL", cfg.URL); err != nil {
			return nil, err
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	w := &webhooks{
		cfg:    cfg,
		apiKey: apiKey,
		log:    log.With("component", "webhook"),
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for i := range w.lanes {
		w.lanes[i] = make(chan any, cfg.QueueSize)
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	return w, nil
}

// dropLogEvery bounds the logging of drops to one line a second.
const dropLogEvery = time.Second

// sessionEvent, archiveCallback... tell which session they are of, for
// their lane.
type ofSession interface{ session() string }

// An addressed event goes to its own URL rather than the webhook URL.
type addressed interface{ address() string }

// monitoring reports whether session-monitoring events have somewhere to
// go.
func (w *webhooks) monitoring() bool { return w.cfg.URL != "" }

// post queues an event without waiting, in the lane of its session; when
// the queue is full, the event is dropped. Without a URL to go to, it is
// not sent.
func (w *webhooks) post(ev any) {
	if _, ok := ev.(addressed); !ok && !w.monitoring() {
		return
	}
	lane := 0
	if e, ok := ev.(ofSession); ok {
		h := fnv.New32a()
		_, _ = io.WriteString(h, e.session())
		lane = int(h.Sum32() % webhookLanes)
	}
	if w.queued.Add(1) <= int64(w.cfg.QueueSize) {
		select {
		case <-w.done: // closed: nobody reads the queue
		case w.lanes[lane] <- ev:
			return
		}
	}
	w.queued.Add(-1)
	n := w.dropped.Add(1)
	now := time.Now().UnixNano()
	if last := w.lastDropLog.Load(); now-last >= int64(dropLogEvery) && w.lastDropLog.CompareAndSwap(last, now) {
		w.log.Warn("webhook queue full: event dropped", "dropped", n, "queue", w.cfg.QueueSize)
	}
}

// run delivers the queue's events until close, then what is left of them
// without retries.
func (w *webhooks) run() {
	defer close(w.done)
	var lanes sync.WaitGroup
	for _, lane := range w.lanes {
		lanes.Go(func() { w.runLane(lane) })
	}
	lanes.Wait()
}

// runLane delivers the events of a lane, in order.
func (w *webhooks) runLane(lane chan any) {
	deliver := func(ev any) {
		w.queued.Add(-1)
		w.deliver(ev)
	}
	for {
		select {
		case ev := <-lane:
			deliver(ev)
		case <-w.stop:
			for {
				select {
				case ev := <-lane:
					deliver(ev)
				default:
					return
				}
			}
		}
	}
}

// close stops the deliveries once the queue is empty, or after Timeout:
// what is left then is dropped.
func (w *webhooks) close() {
	w.once.Do(func() {
		close(w.stop)
		t := time.AfterFunc(w.cfg.Timeout, w.cancel)
		<-w.done
		t.Stop()
		w.cancel()
		w.client.CloseIdleConnections()
	})
}

// stopping reports whether close has begun.
func (w *webhooks) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// deliver POSTs ev, with its retries unless the server is closing.
func (w *webhooks) deliver(ev any) {
	if w.ctx.Err() != nil {
		w.dropped.Add(1)
		return
	}
	body, err := json.Marshal(ev)
	if err != nil {
		w.failed.Add(1)
		w.log.Error("webhook event not encoded", "err", err)
		return
	}
	to := w.cfg.URL
	if a, ok := ev.(addressed); ok {
		to = a.address()
	}
	wait := w.cfg.Backoff
	for attempt := 0; ; attempt++ {
		retry, err := w.attempt(to, body)
		if err == nil {
			w.delivered.Add(1)
			return
		}
		if !retry || attempt >= w.cfg.Retries || w.stopping() {
			w.failed.Add(1)
			w.log.Warn("webhook delivery failed", "attempts", attempt+1, "err", err)
			return
		}
		w.log.Info("webhook delivery failed: retrying", "attempt", attempt+1, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
		}
		wait *= 2
	}
}

// attempt POSTs body to the URL to once; it reports whether a failure is
// worth a retry.
func (w *webhooks) attempt(to string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if w.cfg.Secret != "" {
		sig, err := w.sign(body)
		if err != nil {
			return false, err
		}
		req.Header.Set("Authorization", "Bearer "+sig)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	_ = resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return false, nil
	case s >= 500, s == http.StatusRequestTimeout, s == http.StatusTooManyRequests:
		return true, fmt.Errorf("answered %s", resp.Status)
	default:
		return false, fmt.Errorf("answered %s", resp.Status)
	}
}

// webhookClaims are the claims of a delivery's signature.
type webhookClaims struct {
	jwt.RegisteredClaims
	PayloadHash string `json:"payload_hash"`
}

// sign returns the JWT that signs a delivery of body.
func (w *webhooks) sign(body []byte) (string, error) {
	sum := sha256.Sum256(body)
	now := time.Now()
	c := webhookClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: w.apiKey, IssuedAt: jwt.NewNumericDate(now), ID: newID()},
		PayloadHash:      hex.EncodeToString(sum[:]),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(w.cfg.Secret))
}

// VerifyWebhook checks a webhook delivery that a receiver got, r with its
// body already read: its Authorization header's JWT is signed with secret
// (WebhookConfig.Secret), and its payload_hash is body's.
func VerifyWebhook(r *http.Request, body []byte, secret string) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return errors.New("crossbar: webhook delivery is not signed")
	}
	var c webhookClaims
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuedAt())
	if _, err := p.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return []byte(secret), nil }); err != nil {
		return fmt.Errorf("crossbar: webhook signature: %w", err)
	}
	sum := sha256.Sum256(body)
	if c.PayloadHash != hex.EncodeToString(sum[:]) {
		return errors.New("crossbar: webhook body is not the one signed")
	}
	return nil
}

package crossbartest

import (
	"context"
	"fmt"
	"sync"

	"github.com/pion/interceptor"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest/netem"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// Option tunes a participant: see WithMedia.
type Option func(*options)

type options struct {
	media   bool
	network *netem.Shaper
}

// WithMedia gives a participant real media: its streams are published
// with WebRTC (Pion, on loopback) and carry synthetic Opus and VP8 (the
// default codecs), video that names the participant (its connection
// data, or its id if that is empty) and numbers its frames
// (client.SynthOptions.Tag), which Watch reads on the other side. Without it a participant's streams are
// signal-only: announced, subscribed to and moderated as any other, with
// no media, and fast.
func WithMedia() Option { return func(o *options) { o.media = true } }

// WithNetwork gives a participant real media, as WithMedia does, sent
// through n: what n.Set says (loss, latency, a bandwidth cap) impairs the
// RTP the participant sends, from then on. Give each participant a
// Shaper of its own: Disconnect waits for the packets it delays.
func WithNetwork(n *netem.Shaper) Option {
	return func(o *options) { o.media, o.network = true, n }
}

// Participant is a virtual client app in a session: a Go client
// (package client) connected to the Server over a signaling link the test
// controls, whose every event is logged. Its methods are safe for
// concurrent use.
type Participant struct {
	c     *client.Session
	link  *link
	media bool
	net   *netem.Shaper // WithNetwork's, or nil
	log   *eventLog
	read  sync.WaitGroup // the event log's reader

	mu        sync.Mutex
	published map[string]*client.Publisher // by stream id
	synth     sync.WaitGroup               // the media of WithMedia streams
	stopSynth context.CancelFunc
	synthCtx  context.Context
}

// connect joins a participant with token over a new link of ts.
func connect(ctx context.Context, ts *Server, token string, o options) (*Participant, error) {
	l := &link{ts: ts}
	media := client.MediaOptions{LoopbackOnly: true}
	if o.network != nil {
		media.Interceptors = []interceptor.Factory{o.network}
	}
	c, err := client.ConnectTransport(ctx, l.dial, token, &client.Options{Media: media})
	if err != nil {
		return nil, fmt.Errorf("crossbartest: join: %w", err)
	}
	synthCtx, stop := context.WithCancel(context.Background())
	p := &Participant{c: c, link: l, media: o.media, net: o.network, log: newEventLog(), published: map[string]*client.Publisher{},
		synthCtx: synthCtx, stopSynth: stop}
	p.read.Add(1)
	go func() {
		defer p.read.Done()
		p.log.read(c.Events())
	}()
	return p, nil
}

// ID returns the participant's connection id.
func (p *Participant) ID() string { return p.c.Connection().ID }

// Data returns the participant's connection data, from its token.
func (p *Participant) Data() string { return p.c.Connection().Data }

// tag names the participant's synthetic video: its data, or its id.
func (p *Participant) tag() string {
	if d := p.Data(); d != "" {
		return d
	}
	return p.ID()
}

// name names the participant in failures: its data, or its id.
func (p *Participant) name() string {
	if c := p.c.Connection(); c.Data != "" {
		return fmt.Sprintf("%q (%s)", c.Data, c.ID)
	}
	return p.ID()
}

// Client returns the participant's Go client, for what this type does not
// wrap. Its Events channel is the participant's to read: use Events and
// the waits instead.
func (p *Participant) Client() *client.Session { return p.c }

// Publish publishes a stream described by opts: signal-only
// (opts.SignalOnly is set for it) unless the participant joined
// WithMedia, and then with synthetic media until it is unpublished. It
// returns once the server accepted the stream; Publisher.WaitCreated
// waits for the server to announce it.
func (p *Participant) Publish(ctx context.Context, opts client.PublishOptions) (*client.Publisher, error) {
	opts.SignalOnly = !p.media
	pub, err := p.c.Publish(ctx, opts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published[pub.StreamID()] = pub
	if p.media {
		p.synth.Add(1)
		go func() {
			defer p.synth.Done()
			_ = pub.Synthesize(p.synthCtx, client.SynthOptions{Tag: p.tag()}) // ends with the stream
		}()
	}
	return pub, nil
}

// Unpublish ends a stream the participant published.
func (p *Participant) Unpublish(ctx context.Context, streamID string) error {
	p.mu.Lock()
	pub := p.published[streamID]
	delete(p.published, streamID)
	p.mu.Unlock()
	if pub == nil {
		return fmt.Errorf("crossbartest: %s publishes no stream %s", p.name(), streamID)
	}
	return pub.Unpublish(ctx)
}

// Subscribe subscribes to a stream's audio and video. Read what arrives
// with Watch, on a participant that joined WithMedia; a signal-only
// stream brings nothing.
func (p *Participant) Subscribe(ctx context.Context, streamID string) (*client.Subscriber, error) {
	return p.c.Subscribe(ctx, streamID, client.SubscribeOptions{Audio: true, Video: true})
}

// Signal sends a signal to one connection (to is its id) or, with to
// empty, to everyone, the participant included.
func (p *Participant) Signal(ctx context.Context, to, typ, data string) error {
	return p.c.Signal(ctx, to, typ, data)
}

// Disconnect leaves the session. The participant's events stay readable.
func (p *Participant) Disconnect() error {
	err := p.c.Disconnect()
	p.stopSynth()
	p.synth.Wait()
	p.read.Wait()
	if p.net != nil {
		p.net.Wait() // its last packets, delayed
	}
	return err
}

// leave disconnects the participant at the end of a test.
func (p *Participant) leave() { _ = p.Disconnect() }

// Cut drops the participant's signaling link as a failed network would,
// and keeps it down: the server detaches the connection, which waits the
// reconnect grace period (advance the Server's Clock to end it), and the
// client tries to resume (TypeReconnecting). Cut returns once the server
// noticed.
func (p *Participant) Cut() { p.link.drop() }

// Restore brings the signaling link back after Cut: the client resumes
// within a second (TypeReconnected) if the grace period has not ended.
func (p *Participant) Restore() { p.link.restore() }

// Events returns every event the participant saw so far, in order.
func (p *Participant) Events() []client.Event { return p.log.all() }

// Wait returns the earliest event the participant saw that match accepts
// and no earlier wait returned, waiting for one until ctx ends. what
// describes the event for the error, which lists every event seen.
func (p *Participant) Wait(ctx context.Context, what string, match func(client.Event) bool) (client.Event, error) {
	return p.log.take(ctx, p.name(), what, match)
}

// WaitEvent is Wait for the next event of type typ.
func (p *Participant) WaitEvent(ctx context.Context, typ signaling.Type) (client.Event, error) {
	return p.Wait(ctx, string(typ), is(typ))
}

// waitOthers waits for an event of type typ about another connection than
// the participant's: whose returns the id of the event's.
func (p *Participant) waitOthers(ctx context.Context, typ signaling.Type, whose func(client.Event) string) (client.Event, error) {
	self := p.ID()
	return p.Wait(ctx, string(typ)+" of another connection", func(ev client.Event) bool {
		return ev.Type == typ && whose(ev) != self
	})
}

// WaitConnectionCreated waits for another connection to join (or to be
// there when the participant joined) and returns it. The participant's
// own connectionCreated is left alone.
func (p *Participant) WaitConnectionCreated(ctx context.Context) (signaling.Connection, error) {
	ev, err := p.waitOthers(ctx, signaling.TypeConnectionCreated, func(ev client.Event) string { return ev.Connection.ID })
	if err != nil {
		return signaling.Connection{}, err
	}
	return *ev.Connection, nil
}

// WaitConnectionDestroyed waits for a connection to leave and returns it
// and why it left (clientDisconnected, forceDisconnected,
// networkDisconnected...).
func (p *Participant) WaitConnectionDestroyed(ctx context.Context) (signaling.Connection, string, error) {
	ev, err := p.WaitEvent(ctx, signaling.TypeConnectionDestroyed)
	if err != nil {
		return signaling.Connection{}, "", err
	}
	return *ev.Connection, ev.Reason, nil
}

// WaitStreamCreated waits for a stream of another connection to be
// published (or to be there when the participant joined) and returns it.
// The participant's own streams are left alone: see
// client.Publisher.WaitCreated.
func (p *Participant) WaitStreamCreated(ctx context.Context) (signaling.Stream, error) {
	ev, err := p.waitOthers(ctx, signaling.TypeStreamCreated, func(ev client.Event) string { return ev.Stream.ConnectionID })
	if err != nil {
		return signaling.Stream{}, err
	}
	return *ev.Stream, nil
}

// WaitStreamDestroyed waits for a stream, its own included, to end and
// returns it and why (clientUnpublished, forceUnpublished...).
func (p *Participant) WaitStreamDestroyed(ctx context.Context) (signaling.Stream, string, error) {
	ev, err := p.WaitEvent(ctx, signaling.TypeStreamDestroyed)
	if err != nil {
		return signaling.Stream{}, "", err
	}
	return *ev.Stream, ev.Reason, nil
}

// WaitSignal waits for a signal of type typ, or of any type if typ is
// empty, and returns it.
func (p *Participant) WaitSignal(ctx context.Context, typ string) (signaling.Signal, error) {
	what := "signal"
	if typ != "" {
		what = fmt.Sprintf("signal %q", typ)
	}
	ev, err := p.Wait(ctx, what, func(ev client.Event) bool {
		return ev.Type == signaling.TypeSignal && ev.Signal != nil && (typ == "" || ev.Signal.Type == typ)
	})
	if err != nil {
		return signaling.Signal{}, err
	}
	return *ev.Signal, nil
}

// WaitDisconnected waits for the participant's session to end and returns
// why (forceDisconnected, networkDisconnected, tokenRevoked,
// sessionClosed, clientDisconnected).
func (p *Participant) WaitDisconnected(ctx context.Context) (string, error) {
	ev, err := p.WaitEvent(ctx, signaling.TypeSessionDisconnected)
	return ev.Reason, err
}

package crossbar

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// captioning is a session's live captions: each stream whose publisher
// publishes captions is read in process (Session.Subscribe), as an
// archive reads it, and its audio written to a Recognizer of the host's,
// until the stream ends, its publisher stops publishing captions, or the
// captions stop. Lock order: the session's mu, then a captioning's mu.
type captioning struct {
	id      string
	s       *Session
	opts    CaptionsOptions
	created time.Time

	mu      sync.Mutex
	status  CaptionsStatus
	reason  string
	streams map[string]*transcription // transcribed now, or about to
	limit   Timer                     // stops them at MaxDuration
	wg      sync.WaitGroup            // the streams' goroutines
}

// transcription is one stream's; sub and rec are nil while it opens.
type transcription struct {
	sub    *Subscriber
	rec    Recognizer
	cancel context.CancelFunc
	ended  bool // guarded by the captioning's mu: emit drops captions
}

func (cp *captioning) snapshotLocked() Captions {
	return Captions{ID: cp.id, SessionID: cp.s.ID(), LanguageCode: cp.opts.LanguageCode, CreatedAt: cp.created, Status: cp.status, Reason: cp.reason}
}

// startCaptions starts the session's captions (see Server.StartCaptions).
func (s *Session) startCaptions(opts CaptionsOptions) (Captions, error) {
	if s.info.MediaMode == Relayed {
		return Captions{}, fmt.Errorf("%w: session %s is relayed: its media does not pass through the server", ErrCaptionsConflict, s.info.ID)
	}
	srv := s.srv
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return Captions{}, ErrSessionClosed
	}
	if s.captions != nil {
		return Captions{}, fmt.Errorf("%w: session %s has captions already (%s)", ErrCaptionsConflict, s.info.ID, s.captions.id)
	}
	cp := &captioning{id: newID(), s: s, opts: opts, created: srv.cfg.Clock.Now(), status: CaptionsStarted, streams: map[string]*transcription{}}
	s.captions = cp
	srv.captions.add(cp)
	cp.mu.Lock()
	cp.limit = srv.cfg.Clock.AfterFunc(opts.MaxDuration, func() { _, _ = cp.stop("maxDuration") })
	c := cp.snapshotLocked()
	cp.mu.Unlock()
	cp.callBack(c)
	for _, st := range s.streamsLocked() {
		if st.captions {
			s.later(func() { cp.add(st.id) })
		}
	}
	s.log.Info("captions started", "captions", cp.id, "language", opts.LanguageCode)
	return c, nil
}

// add starts transcribing a stream, unless it is already.
func (cp *captioning) add(streamID string) {
	cp.mu.Lock()
	if cp.status != CaptionsStarted || cp.streams[streamID] != nil {
		cp.mu.Unlock()
		return
	}
	t := &transcription{}
	cp.streams[streamID] = t // keeps the place while it opens
	cp.mu.Unlock()
	err := cp.open(streamID, t)
	wanted := cp.s.wantsCaptions(streamID) // its publisher may have turned them off meanwhile
	cp.mu.Lock()
	if err == nil && t.rec != nil && wanted && cp.status == CaptionsStarted {
		cp.wg.Add(1)
		go cp.transcribe(streamID, t)
		cp.mu.Unlock()
		return
	}
	delete(cp.streams, streamID)
	cp.mu.Unlock()
	if t.rec != nil { // the captions or the stream's stopped meanwhile
		_ = cp.end(t) // nothing was transcribed: its error changes nothing
	}
	if err != nil {
		cp.fail(fmt.Errorf("stream %s: %w", streamID, err))
	}
}

// open subscribes to a stream's audio and makes its Recognizer; t.rec
// stays nil for a stream without audio, or one that ended.
func (cp *captioning) open(streamID string, t *transcription) error {
	s := cp.s
	sub, err := s.Subscribe(streamID, SubscribeOptions{Audio: true})
	if err != nil {
		s.log.Info("captions: stream not transcribed", "captions", cp.id, "stream", streamID, "err", err)
		return nil // it ended meanwhile
	}
	if sub.readers[webrtc.RTPCodecTypeAudio] == nil {
		sub.close()
		return nil
	}
	a, _ := sub.stream.pub.tracks()
	codec := a.Codec()
	ctx, cancel := context.WithCancel(context.Background())
	req := CaptionsRequest{SessionID: s.ID(), StreamID: streamID, LanguageCode: cp.opts.LanguageCode,
		PartialCaptions: cp.opts.PartialCaptions, MimeType: codec.MimeType, ClockRate: codec.ClockRate}
	rec, err := s.srv.cfg.Captions(ctx, req, func(c Caption) { cp.emit(streamID, t, c) })
	if err != nil {
		cancel()
		sub.close()
		return fmt.Errorf("speech to text: %w", err)
	}
	if rec == nil {
		cancel()
		sub.close()
		return errors.New("speech to text: no recognizer and no error")
	}
	t.sub, t.rec, t.cancel = sub, rec, cancel
	return nil
}

// transcribe writes a stream's audio to its recognizer until the
// subscription ends (the stream ended, its publisher stopped publishing
// captions, or the captions stopped), then closes it.
func (cp *captioning) transcribe(streamID string, t *transcription) {
	defer cp.wg.Done()
	var err error
	for {
		p, rerr := t.sub.ReadRTP(context.Background(), webrtc.RTPCodecTypeAudio)
		if rerr != nil {
			break // io.EOF: the subscription ended
		}
		if err = t.rec.WriteAudio(AudioPacket{Timestamp: p.Timestamp, SequenceNumber: p.SequenceNumber, Payload: p.Payload}); err != nil {
			break
		}
	}
	err = errors.Join(err, cp.end(t))
	cp.mu.Lock()
	if cp.streams[streamID] == t {
		delete(cp.streams, streamID)
	}
	cp.mu.Unlock()
	if err != nil {
		cp.fail(fmt.Errorf("stream %s: %w", streamID, err))
	}
}

// end closes a transcription's subscription and recognizer; captions it
// emits after are dropped.
func (cp *captioning) end(t *transcription) error {
	t.sub.close()
	err := t.rec.Close()
	cp.mu.Lock()
	t.ended = true
	cp.mu.Unlock()
	t.cancel()
	return err
}

// wantsCaptions reports whether a stream of the session is live and its
// publisher publishes captions.
func (s *Session) wantsCaptions(streamID string) bool {
	s.mu.Lock()
	defer s.unlock()
	st := s.streams[streamID]
	return st != nil && st.captions
}

// remove stops transcribing a stream: its publisher stopped publishing
// captions.
func (cp *captioning) remove(streamID string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if t := cp.streams[streamID]; t != nil && t.sub != nil {
		t.sub.close() // its goroutine closes the recognizer
	}
}

// emit sends a caption of a stream to the clients subscribed to its
// captions.
func (cp *captioning) emit(streamID string, t *transcription, c Caption) {
	cp.mu.Lock()
	ended := t.ended
	cp.mu.Unlock()
	if ended {
		return
	}
	cp.s.sendCaption(streamID, c)
}

// sendCaption sends a caption of a stream to the connections subscribed
// to its captions, here and, in a cluster, on the other nodes.
func (s *Session) sendCaption(streamID string, c Caption) {
	w := &signaling.Caption{Text: c.Text, Final: c.Final, Start: c.Start.Milliseconds(), End: c.End.Milliseconds()}
	s.mu.Lock()
	defer s.unlock()
	s.deliverCaptionLocked(streamID, w)
	if s.clustered() {
		s.sendToNodes(nodeMessage{Kind: kindCaption, ID: streamID, Caption: w}, nil)
	}
}

// deliverCaptionLocked sends a caption of a stream to this node's
// connections subscribed to its captions. The caller holds s.mu.
func (s *Session) deliverCaptionLocked(streamID string, c *signaling.Caption) {
	if st := s.streams[streamID]; st == nil || !st.captions {
		return // its publisher stopped publishing captions
	}
	b, err := signaling.Encode(&signaling.Message{Type: signaling.TypeCaption, StreamID: streamID, Caption: c})
	if err != nil {
		s.log.Error("encode failed", "err", err)
		return
	}
	for _, conn := range s.conns {
		if sub := conn.media.subs[streamID]; sub != nil && sub.captions {
			s.queueLocked(conn, b)
		}
	}
}

// fail makes the captions fail for err: every stream's transcription
// ends; the session goes on, and may start captions again.
func (cp *captioning) fail(err error) {
	cp.mu.Lock()
	if cp.status != CaptionsStarted {
		cp.mu.Unlock()
		return
	}
	cp.status, cp.reason = CaptionsFailed, err.Error()
	cp.endLocked()
	c := cp.snapshotLocked()
	cp.mu.Unlock()
	cp.s.log.Error("captions failed", "captions", cp.id, "err", err)
	cp.s.captionsEnded(cp, c)
}

// endLocked stops the timer and ends the subscriptions of the
// transcribed streams; their goroutines then close their recognizers. The
// caller holds cp.mu.
func (cp *captioning) endLocked() {
	cp.limit.Stop()
	for _, t := range cp.streams {
		if t.sub != nil {
			t.sub.close()
		}
	}
}

// stop stops the captions for reason (empty: the host asked), and waits
// until every recognizer is closed.
func (cp *captioning) stop(reason string) (Captions, error) {
	cp.mu.Lock()
	if cp.status != CaptionsStarted {
		defer cp.mu.Unlock()
		return Captions{}, fmt.Errorf("%w: captions %s are %s", ErrCaptionsNotFound, cp.id, cp.status)
	}
	cp.status, cp.reason = CaptionsStopped, reason
	cp.endLocked()
	c := cp.snapshotLocked()
	cp.mu.Unlock()
	cp.s.captionsEnded(cp, c)
	cp.wg.Wait()
	cp.s.log.Info("captions stopped", "captions", cp.id, "reason", reason)
	return c, nil
}

// captionsEnded forgets cp, which stopped or failed as c says, and tells
// the host.
func (s *Session) captionsEnded(cp *captioning, c Captions) {
	s.srv.captions.remove(cp)
	s.mu.Lock()
	defer s.unlock()
	if s.captions == cp {
		s.captions = nil
	}
	s.emitLocked(captionsStopped{c})
	cp.callBack(c)
}

// captionsCallback is OpenTok's captions status callback.
type captionsCallback struct {
	CaptionID     string         `json:"captionId"`
	ApplicationID string         `json:"applicationId"`
	SessionID     string         `json:"sessionId"`
	Status        CaptionsStatus `json:"status"`
	CreatedAt     int64          `json:"createdAt"` // Unix ms
	UpdatedAt     int64          `json:"updatedAt"` // Unix ms
	Duration      int64          `json:"duration"`  // seconds
	LanguageCode  string         `json:"languageCode"`
	Provider      string         `json:"provider"`
	Reason        string         `json:"reason,omitempty"`
	Group         string         `json:"group"`
	to            string
}

func (c *captionsCallback) address() string { return c.to }
func (c *captionsCallback) session() string { return c.SessionID }

// callBack sends the captions' status c to their StatusCallbackURL, if
// they have one.
func (cp *captioning) callBack(c Captions) {
	if cp.opts.StatusCallbackURL == "" {
		return
	}
	srv := cp.s.srv
	now := srv.cfg.Clock.Now()
	srv.hooks.post(&captionsCallback{
		CaptionID: c.ID, ApplicationID: srv.cfg.APIKey, SessionID: c.SessionID, Status: c.Status,
		CreatedAt: c.CreatedAt.UnixMilli(), UpdatedAt: now.UnixMilli(), Duration: int64(now.Sub(c.CreatedAt) / time.Second),
		LanguageCode: c.LanguageCode, Provider: "crossbar", Reason: c.Reason, Group: "captions", to: cp.opts.StatusCallbackURL,
	})
}

// captionLocked keeps the session's captions up with ev: a new stream
// with captions is transcribed, and one whose publisher turns them on or
// off starts or stops being. The caller holds s.mu.
func (s *Session) captionLocked(ev event) {
	cp := s.captions
	if cp == nil {
		return
	}
	var st *Stream
	switch ev := ev.(type) {
	case streamCreated:
		st = ev.st
	case streamPropertyChanged:
		if ev.change.Property != "hasCaptions" {
			return
		}
		st = ev.change.Stream
	default:
		return
	}
	id := st.id
	if st.captions {
		s.later(func() { cp.add(id) })
	} else {
		s.later(func() { cp.remove(id) })
	}
}

// stopCaptionsLocked stops the session's captions as it closes; the
// caller holds s.mu.
func (s *Session) stopCaptionsLocked() {
	if cp := s.captions; cp != nil {
		s.later(func() { _, _ = cp.stop("sessionClosed") })
	}
}

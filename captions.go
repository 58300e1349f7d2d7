package crossbar

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Live captions, as OpenTok's: the host starts them for a session
// (StartCaptions); then the audio of each stream whose publisher publishes
// captions (publishCaptions) goes to a recognizer of the host's
// (Config.Captions), and what it hears goes to the clients subscribed to
// that stream's captions (subscribeToCaptions), as captionReceived events.

// SpeechToText is the host's speech-to-text engine, as Crossbar calls it:
// once for each stream to transcribe, with where its captions go. It
// returns the stream's Recognizer, or an error that fails the session's
// captions (OnCaptionsStopped). ctx is canceled once the stream's
// transcription is over, after the Recognizer's Close. emit may be called
// from any goroutine, from WriteAudio or not, until Close returns; later
// calls are dropped.
type SpeechToText func(ctx context.Context, r CaptionsRequest, emit func(Caption)) (Recognizer, error)

// A Recognizer transcribes the audio of one stream.
//
// Its input is the stream's audio as the engine forwards it: one RTP
// payload at a time, in the publisher's codec (Opus, RFC 7587, from
// browsers: CaptionsRequest says which), with its RTP timestamp. Crossbar
// does not decode it: no Opus decoder in pure Go is fit for it, and a cgo
// one would bind every host to libopus. A recognizer decodes with its own
// means (libopus through cgo, an ffmpeg process, or an engine that takes
// Opus as it is, as several cloud engines do).
type Recognizer interface {
	// WriteAudio is given each audio packet of the stream, in order, on
	// one goroutine. p.Payload is valid until it returns. It should not
	// block for long: packets that come meanwhile queue, then are
	// dropped, and StopCaptions waits for it. An error ends the stream's
	// transcription and fails the session's captions.
	WriteAudio(p AudioPacket) error
	// Close ends the transcription: the stream ended, its publisher
	// stopped publishing captions, or the captions stopped. It may emit
	// what it still has before it returns. An error fails the captions.
	Close() error
}

// CaptionsRequest says what a Recognizer transcribes.
type CaptionsRequest struct {
	SessionID, StreamID string
	// LanguageCode is the BCP-47 code of the language spoken, as
	// CaptionsOptions give it.
	LanguageCode string
	// PartialCaptions: the recognizer may emit partial captions (Final
	// false) before each final one.
	PartialCaptions bool
	// MimeType and ClockRate are the audio codec's ("audio/opus", 48000
	// from browsers).
	MimeType  string
	ClockRate uint32
}

// AudioPacket is one packet of a stream's audio.
type AudioPacket struct {
	// Timestamp is the packet's RTP timestamp, in units of the codec's
	// clock rate, continuous over the stream's life here.
	Timestamp      uint32
	SequenceNumber uint16
	Payload        []byte // one encoded frame or more: an RTP payload
}

// Caption is a piece of a stream's transcript: Text heard from Start to
// End, times of the stream's audio since its transcription started. A
// partial caption (Final false) is replaced by the next one, until a
// final one ends the phrase.
type Caption struct {
	Text       string
	Start, End time.Duration
	Final      bool
}

// CaptionsStatus is where a session's captions are in their life.
type CaptionsStatus string

// Captions statuses: started until the host stops them (or
// MaxDuration passes, or the session closes), or failed for the
// recognizer's error.
const (
	CaptionsStarted CaptionsStatus = "started"
	CaptionsStopped CaptionsStatus = "stopped"
	CaptionsFailed  CaptionsStatus = "failed"
)

// MaxCaptionsDuration and MinCaptionsDuration bound
// CaptionsOptions.MaxDuration, as OpenTok's do.
const (
	MaxCaptionsDuration = 4 * time.Hour
	MinCaptionsDuration = 5 * time.Minute
)

// CaptionsOptions are the options of StartCaptions.
type CaptionsOptions struct {
	// LanguageCode is the BCP-47 code of the language spoken; empty
	// means en-US, as OpenTok's. The recognizer decides which it knows.
	LanguageCode string
	// MaxDuration stops the captions after that long; zero means
	// MaxCaptionsDuration, and it is at least MinCaptionsDuration.
	MaxDuration time.Duration
	// PartialCaptions lets recognizers emit partial captions (OpenTok's
	// default is true: a REST layer that speaks OpenTok's API sets it).
	PartialCaptions bool
	// StatusCallbackURL, if set, is sent OpenTok's captions status
	// callback (JSON: captionId, applicationId, sessionId, status,
	// createdAt, updatedAt, duration, languageCode, provider, reason,
	// group) when the captions start, stop and fail, through the server's
	// webhook queue (see WebhookConfig: signed with its Secret, retried).
	StatusCallbackURL string
}

// Captions are a session's live captions as they were when asked for.
type Captions struct {
	ID, SessionID string
	LanguageCode  string
	CreatedAt     time.Time
	Status        CaptionsStatus
	// Reason says why they failed, or why they stopped: maxDuration,
	// sessionClosed; empty when the host stopped them.
	Reason string
}

// StartCaptions starts live captions for a session: each stream whose
// publisher publishes captions is transcribed by Config.Captions, until
// StopCaptions. It returns ErrNotSupported without Config.Captions,
// ErrCaptionsConflict when the session has captions already or is relayed
// (its media does not pass through the server), and ErrInvalidOption for
// options out of range.
func (srv *Server) StartCaptions(ctx context.Context, sessionID string, opts CaptionsOptions) (Captions, error) {
	if srv.cfg.Captions == nil {
		return Captions{}, fmt.Errorf("%w: live captions need a speech-to-text engine (Config.Captions)", ErrNotSupported)
	}
	if err := opts.check(); err != nil {
		return Captions{}, err
	}
	s, err := srv.Session(ctx, sessionID)
	if err != nil {
		return Captions{}, err
	}
	return s.startCaptions(opts)
}

// check refuses options out of range, and fills in defaults.
func (o *CaptionsOptions) check() error {
	if o.LanguageCode == "" {
		o.LanguageCode = "en-US"
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = MaxCaptionsDuration
	}
	if o.MaxDuration < MinCaptionsDuration || o.MaxDuration > MaxCaptionsDuration {
		return fmt.Errorf("%w: captions max duration %v, from %v to %v", ErrInvalidOption, o.MaxDuration, MinCaptionsDuration, MaxCaptionsDuration)
	}
	if o.StatusCallbackURL != "" {
		return checkCallbackURL("captions status callback URL", o.StatusCallbackURL)
	}
	return nil
}

// StopCaptions stops a session's captions, by the id StartCaptions gave
// them, and returns them stopped; their recognizers are closed once it
// returns. It returns ErrCaptionsNotFound for captions that are not
// running.
func (srv *Server) StopCaptions(ctx context.Context, captionsID string) (Captions, error) {
	srv.captions.mu.Lock()
	cp := srv.captions.running[captionsID]
	srv.captions.mu.Unlock()
	if cp == nil {
		return Captions{}, fmt.Errorf("%w: %q", ErrCaptionsNotFound, captionsID)
	}
	return cp.stop("")
}

// captionsList are a server's running captions, by id.
type captionsList struct {
	mu      sync.Mutex
	running map[string]*captioning
}

func (l *captionsList) add(cp *captioning) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running == nil {
		l.running = map[string]*captioning{}
	}
	l.running[cp.id] = cp
}

func (l *captionsList) remove(cp *captioning) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.running, cp.id)
}

// OnCaptionsStopped sets the callback run when the session's captions
// stop or fail (their Status says which, and Reason why).
func (s *Session) OnCaptionsStopped(f func(Captions)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.captionsStopped = f
}

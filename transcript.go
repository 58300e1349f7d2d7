package crossbar

import (
	"context"
	"errors"
	"strings"
	"time"
)

// FixedTranscript returns a SpeechToText that hears lines, whatever is
// said: each stream's recognizer emits them in order, starting over
// after the last, one every per of the stream's audio as its packets'
// timestamps measure it (with PartialCaptions, the first half of a line's
// words half way through it). Its captions so flow only while audio
// does. Tests and demos use it, offline; a real engine takes its place
// in Config.Captions.
func FixedTranscript(lines []string, per time.Duration) SpeechToText {
	return func(_ context.Context, r CaptionsRequest, emit func(Caption)) (Recognizer, error) {
		if len(lines) == 0 || per <= 0 {
			return nil, errors.New("crossbar: a fixed transcript needs lines and a time per line")
		}
		rate := r.ClockRate
		if rate == 0 {
			rate = 48000
		}
		return &fixedTranscript{lines: lines, per: per, rate: rate, partial: r.PartialCaptions, emit: emit}, nil
	}
}

// fixedTranscript is the Recognizer of FixedTranscript.
type fixedTranscript struct {
	lines   []string
	per     time.Duration
	rate    uint32
	partial bool
	emit    func(Caption)

	started bool
	last    uint32 // the latest timestamp
	ticks   uint64 // of audio heard, in units of rate
	n       int    // lines emitted
	half    bool   // the partial caption of line n was emitted
}

func (f *fixedTranscript) WriteAudio(p AudioPacket) error {
	if !f.started {
		f.started, f.last = true, p.Timestamp
	}
	if d := int32(p.Timestamp - f.last); d > 0 { // not one reordered
		f.ticks += uint64(d)
		f.last = p.Timestamp
	}
	heard := time.Duration(f.ticks) * time.Second / time.Duration(f.rate)
	for {
		start := time.Duration(f.n) * f.per
		line := f.lines[f.n%len(f.lines)]
		switch {
		case heard >= start+f.per:
			f.emit(Caption{Text: line, Start: start, End: start + f.per, Final: true})
			f.n++
			f.half = false
			continue
		case f.partial && !f.half && heard >= start+f.per/2:
			words := strings.Fields(line)
			f.emit(Caption{Text: strings.Join(words[:(len(words)+1)/2], " "), Start: start, End: start + f.per/2})
			f.half = true
		}
		return nil
	}
}

func (f *fixedTranscript) Close() error { return nil }

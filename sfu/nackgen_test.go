package sfu

import (
	"slices"
	"testing"
)

// TestSeqLogMissing checks the sequence numbers a stream's log asks for:
// the gaps, across the wrap of sequence numbers, each at most nackMaxTries
// times, none once they arrived, and nothing at all once every gap was
// filled or given up.
func TestSeqLogMissing(t *testing.T) {
	var l seqLog
	for _, seq := range []uint16{65530, 65531, 65533, 65535, 2, 3} {
		l.add(seq)
	}
	want := []uint16{65532, 65534, 0, 1}
	if got := l.missing(nil); !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	l.add(65534) // a retransmission
	l.add(0)
	want = []uint16{65532, 1}
	if got := l.missing(nil); !slices.Equal(got, want) {
		t.Fatalf("after two arrived: missing %v, want %v", got, want)
	}
	for try := 3; try <= nackMaxTries; try++ {
		if got := l.missing(nil); !slices.Equal(got, want) {
			t.Fatalf("try %d: missing %v, want %v", try, got, want)
		}
	}
	if got := l.missing(nil); len(got) != 0 {
		t.Fatalf("after %d tries: missing %v, want nothing", nackMaxTries, got)
	}
	if l.done != l.end {
		t.Errorf("done %d, end %d: a log with nothing left to ask for still scans", l.done, l.end)
	}
	l.add(1) // too late: nothing changes
	l.add(4)
	if got := l.missing(nil); len(got) != 0 {
		t.Errorf("missing %v after in-order packets, want nothing", got)
	}
}

// TestSeqLogJump checks a jump of more than the log: only the last
// seqLogSize sequence numbers are asked for, and a packet older than the
// log changes nothing.
func TestSeqLogJump(t *testing.T) {
	var l seqLog
	l.add(100)
	l.add(2000)
	got := l.missing(nil)
	if len(got) != seqLogSize-1 || got[0] != 2000-seqLogSize+1 || got[len(got)-1] != 1999 {
		t.Fatalf("missing %d from %v, want the %d before 2000", len(got), got[:min(len(got), 3)], seqLogSize-1)
	}
	l.add(1999 - seqLogSize) // older than the log, in 1999's slot
	if l.has(1999) {
		t.Error("a packet older than the log was recorded over a newer one's slot")
	}
}

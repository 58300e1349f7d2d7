package sfu

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
)

// checkReceived verifies one subscribed track: at least min packets, every
// output sequence number between the first and the last one received
// (exactly once unless duplicates are allowed: with loss, a NACK repeated
// while its retransmission is on the way brings a second copy), and every
// source packet from the first one received on.
func checkReceived(t *testing.T, who string, r *received, min int, lastSource uint32, duplicatesAllowed bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seqs) < min {
		t.Errorf("%s: %d packets, want at least %d", who, len(r.seqs), min)
		return
	}
	for s, n := range r.seqs {
		if n != 1 && !duplicatesAllowed {
			t.Errorf("%s: seq %d arrived %d times", who, s, n)
		}
	}
	if span := r.spanLocked(); span != int64(len(r.seqs)) {
		t.Errorf("%s: %d sequence numbers over a span of %d: not continuous", who, len(r.seqs), span)
	}
	if missing, first := r.missingLocked(lastSource); len(missing) > 0 {
		t.Errorf("%s: %d source packets missing between %d and %d: %v", who, len(missing), first, lastSource, head(missing))
	}
}

// tailLoss is how many of a publisher's last packets a test does not
// expect everywhere once it stopped: a loss among them, even on loopback
// on a busy machine, has no later packet to reveal it.
const tailLoss = 4

// awaitComplete waits up to timeout for r to be complete up to lastSource;
// checkReceived then says what is missing, if anything.
func awaitComplete(r *received, lastSource uint32, timeout time.Duration) {
	for deadline := time.Now().Add(timeout); !r.complete(lastSource) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// complete reports whether r has every output sequence number from its
// lowest to its highest, and every publisher's packet from its first to
// lastSource.
func (r *received) complete(lastSource uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	missing, _ := r.missingLocked(lastSource)
	return len(missing) == 0 && r.spanLocked() == int64(len(r.seqs))
}

// spanLocked returns how many output sequence numbers lie from the lowest
// received to the highest, unwrapped (they start at a random value).
func (r *received) spanLocked() int64 {
	var first uint16
	for s := range r.seqs {
		first = s
		break
	}
	lo, hi := int64(0), int64(0)
	for s := range r.seqs {
		d := int64(int16(s - first))
		lo, hi = min(lo, d), max(hi, d)
	}
	return hi - lo + 1
}

func (r *received) missingLocked(lastSource uint32) (missing []uint32, first uint32) {
	first = 1 << 31
	for s := range r.sources {
		first = min(first, s)
	}
	for s := first; s <= lastSource; s++ {
		if r.sources[s] == 0 {
			missing = append(missing, s)
		}
	}
	return missing, first
}

func head(s []uint32) []uint32 {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// lastSource returns the highest packet index a Track got from its publisher.
func lastSource(t *testing.T, tr *Track) uint32 {
	t.Helper()
	r := tr.cache
	r.mu.RLock()
	ext := r.highest
	r.mu.RUnlock()
	buf := make([]byte, maxPayload)
	n, _, ok := tr.cache.get(ext, buf)
	if !ok || n < 8 {
		t.Fatalf("track %s: last packet not in cache", tr.ID())
	}
	return uint32(buf[4])<<24 | uint32(buf[5])<<16 | uint32(buf[6])<<8 | uint32(buf[7])
}

func waitReceiving(t *testing.T, c *testClient, keys []string, packets int) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%s receiving %v", c.name, keys), func() bool {
		for _, k := range keys {
			r := c.track(k)
			if r == nil {
				return false
			}
			if _, n := r.counts(); n < packets {
				return false
			}
		}
		return true
	})
}

func TestEndToEnd(t *testing.T) {
	e := newTestEngine(t)
	alice := newTestClient(t, e, "alice", clientOptions{})
	bob := newTestClient(t, e, "bob", clientOptions{})
	aliceAudio, aliceVideo := alice.publish()
	bobAudio, bobVideo := bob.publish()

	subs := []struct {
		client *testClient
		tracks map[string]*Track
	}{
		{newTestClient(t, e, "sub1", clientOptions{}), map[string]*Track{
			"s-alice/audio": aliceAudio, "s-alice/video": aliceVideo, "s-bob/audio": bobAudio, "s-bob/video": bobVideo}},
		{newTestClient(t, e, "sub2", clientOptions{}), map[string]*Track{
			"s-alice/video": aliceVideo, "s-bob/audio": bobAudio}},
		{newTestClient(t, e, "sub3", clientOptions{}), map[string]*Track{
			"s-bob/video": bobVideo}},
	}
	downTracks := map[string]*DownTrack{}
	for _, s := range subs {
		for key, tr := range s.tracks {
			stream, id := splitKey(key)
			downTracks[s.client.name+" "+key] = s.client.subscribe(tr, stream, id)
		}
	}
	for _, s := range subs {
		waitReceiving(t, s.client, keysOf(s.tracks), 60) // more than the checks below need
	}
	waitFor(t, 10*time.Second, "receiver reports on every subscription", func() bool {
		for _, d := range downTracks {
			if d.Stats().RTT <= 0 {
				return false
			}
		}
		return true
	})
	alice.stopPublishing()
	bob.stopPublishing()
	last := map[*Track]uint32{ // what the publishers sent last
		aliceAudio: alice.lastSent(webrtc.RTPCodecTypeAudio), aliceVideo: alice.lastSent(webrtc.RTPCodecTypeVideo),
		bobAudio: bob.lastSent(webrtc.RTPCodecTypeAudio), bobVideo: bob.lastSent(webrtc.RTPCodecTypeVideo),
	}
	// The DownTracks may still be sending the last packets: wait until
	// each subscription has every packet and what it was sent. A packet
	// lost among the last tailLoss has no later one to reveal it: the
	// wait then ends without, and the checks allow it.
	settled := func() bool {
		for _, s := range subs {
			for key, tr := range s.tracks {
				r := s.client.track(key)
				if r == nil || !r.complete(last[tr]) {
					return false
				}
				if packets, _ := r.counts(); uint64(packets) != downTracks[s.client.name+" "+key].Stats().PacketsOut {
					return false
				}
			}
		}
		return true
	}
	for deadline := time.Now().Add(5 * time.Second); !settled() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}

	for _, s := range subs {
		got := s.client.trackKeys()
		sort.Strings(got)
		want := keysOf(s.tracks)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s received tracks %v, want %v", s.client.name, got, want)
		}
		for key, tr := range s.tracks {
			r := s.client.track(key)
			if r == nil {
				continue
			}
			checkReceived(t, s.client.name+" "+key, r, 50, last[tr]-tailLoss, false)
			st := downTracks[s.client.name+" "+key].Stats()
			if packets, _ := r.counts(); st.PacketsOut != uint64(packets) {
				t.Errorf("%s %s: DownTrack sent %d packets, client got %d", s.client.name, key, st.PacketsOut, packets)
			}
			if st.RTT <= 0 || st.RTT > time.Second {
				t.Errorf("%s %s: RTT %v from receiver reports", s.client.name, key, st.RTT)
			}
		}
	}
	for _, tr := range []*Track{aliceAudio, aliceVideo, bobAudio, bobVideo} {
		st := tr.Stats()
		if st.PacketsIn < 50 || st.PacketsLost != 0 || st.Bitrate == 0 {
			t.Errorf("track %s/%s stats %+v", tr.StreamID(), tr.ID(), st)
		}
		if tr.Kind() == webrtc.RTPCodecTypeVideo && st.PLIsSent == 0 {
			t.Errorf("track %s/%s: no keyframe requested for new subscribers", tr.StreamID(), tr.ID())
		}
	}
}

func splitKey(key string) (stream, track string) {
	for i := range key {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}

func keysOf(m map[string]*Track) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

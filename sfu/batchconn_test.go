package sfu

import (
	"bytes"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestBatchConnDelivers writes runs of packets to two receivers, full
// batches and a partial one flushed by the timer, over IPv4 and IPv6, and
// checks that every datagram arrives whole and in order: GSO runs (equal
// sizes, a shorter last one) are split back into the packets written.
func TestBatchConnDelivers(t *testing.T) {
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} {
		t.Run(ip.String(), func(t *testing.T) { testBatchConnDelivers(t, ip) })
	}
}

func testBatchConnDelivers(t *testing.T, ip net.IP) {
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Skipf("no UDP on %s: %v", ip, err)
		}
		if err := c.SetReadBuffer(1 << 20); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	sock := listen()
	bc := newBatchConn(sock, new(arrivalTable), nil)
	defer bc.Close()
	receivers := []*net.UDPConn{listen(), listen()}

	var want [2][][]byte
	packet := func(i, size int) []byte {
		b := bytes.Repeat([]byte{byte(i)}, size)
		b[0] = byte(i >> 8)
		return b
	}
	// 150 packets: runs of 7 full-size packets and a short one, alternating
	// between the receivers, so that runs straddle batch boundaries.
	for i := range 150 {
		r := (i / 8) % 2
		size := 1200
		if i%8 == 7 {
			size = 300 + i
		}
		p := packet(i, size)
		want[r] = append(want[r], p)
		if _, err := bc.WriteTo(p, receivers[r].LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2000)
	for r, rc := range receivers {
		for i, w := range want[r] {
			if err := rc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, from, err := rc.ReadFrom(buf)
			if err != nil {
				t.Fatalf("receiver %d, packet %d: %v", r, i, err)
			}
			if !bytes.Equal(buf[:n], w) {
				t.Fatalf("receiver %d, packet %d: got %d bytes starting %v, want %d starting %v", r, i, n, buf[:2], len(w), w[:2])
			}
			if from.String() != sock.LocalAddr().String() {
				t.Fatalf("receiver %d, packet %d: from %v, want %v", r, i, from, sock.LocalAddr())
			}
		}
	}
}

// TestBatchConnReads checks what a read returns: the datagram and its
// sender, over IPv4 and IPv6; a read with nothing to read waits for a
// datagram, and one still waiting when the socket closes ends with
// net.ErrClosed.
func TestBatchConnReads(t *testing.T) {
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} {
		t.Run(ip.String(), func(t *testing.T) {
			sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
			if err != nil {
				t.Skipf("no UDP on %s: %v", ip, err)
			}
			bc := newBatchConn(sock, new(arrivalTable), nil)
			defer bc.Close()
			sender, err := net.DialUDP("udp", nil, sock.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer sender.Close()
			type read struct {
				data string
				from net.Addr
				err  error
			}
			reads := make(chan read)
			readOne := func() {
				buf := make([]byte, 1500)
				n, from, err := bc.ReadFrom(buf)
				reads <- read{string(buf[:n]), from, err}
			}
			go readOne()
			select {
			case r := <-reads:
				t.Fatalf("a read returned with nothing sent: %+v", r)
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := sender.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			r := <-reads
			if r.err != nil || r.data != "hello" || r.from.String() != sender.LocalAddr().String() {
				t.Fatalf("read %q from %v, %v; want \"hello\" from %v", r.data, r.from, r.err, sender.LocalAddr())
			}
			go readOne()
			bc.Close()
			select {
			case r := <-reads:
				if !errors.Is(r.err, net.ErrClosed) {
					t.Fatalf("read on a closed socket: %q, %v; want net.ErrClosed", r.data, r.err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a read waiting when the socket closed did not return")
			}
		})
	}
}

// TestBatchConnWritesAtOnceWhenNotForwarding checks that a write made while
// no packet is being forwarded leaves at once, without the batch timer,
// and that writes made while one is are queued for the flush.
func TestBatchConnWritesAtOnceWhenNotForwarding(t *testing.T) {
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var holds atomic.Int32
	bc := newBatchConn(sock, new(arrivalTable), &holds)
	defer bc.Close()
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	queued := func() (int, bool) {
		bc.mu.Lock()
		defer bc.mu.Unlock()
		return bc.n, bc.armed
	}
	if _, err := bc.WriteTo([]byte("rtcp"), rc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if n, armed := queued(); n != 0 || armed {
		t.Errorf("idle write: %d queued, timer armed %v; want it sent", n, armed)
	}
	holds.Add(1)
	for range 2 {
		if _, err := bc.WriteTo([]byte("media"), rc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := queued(); n != 2 {
		t.Errorf("while forwarding: %d queued, want 2", n)
	}
	holds.Add(-1)
	if err := bc.Flush(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	for i, want := range []string{"rtcp", "media", "media"} {
		if err := rc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, _, err := rc.ReadFrom(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("datagram %d: %q, %v; want %q", i, buf[:n], err, want)
		}
	}
}

//go:build linux && !crossbar_portable

package sfu

import (
	"net"
	"sync"
	"testing"
	"time"
)

// BenchmarkUDPWrite measures sending SRTP-sized packets from one socket to
// ten loopback receivers, in runs of eight to one receiver (a video frame
// to one subscriber): one sendto per packet (the socket alone), or through
// batchConn with sendmmsg only or with UDP GSO. On loopback the system
// call includes the receiving side's kernel work. ns/op is per packet.
func BenchmarkUDPWrite(b *testing.B) {
	for _, mode := range []string{"sendto", "sendmmsg", "gso"} {
		b.Run("mode="+mode, func(b *testing.B) {
			sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			var conn net.PacketConn = sock
			if mode != "sendto" {
				bc := newBatchConn(sock, new(arrivalTable), nil)
				bc.io.gso = mode == "gso"
				conn = bc
			}
			defer conn.Close()
			var addrs []net.Addr
			var wg sync.WaitGroup
			for range 10 {
				r, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				addrs = append(addrs, r.LocalAddr())
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 2000)
					for {
						if _, _, err := r.ReadFromUDPAddrPort(buf); err != nil {
							return
						}
					}
				}()
			}
			p := make([]byte, 1200)
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			for i := range b.N {
				if _, err := conn.WriteTo(p, addrs[(i/8)%len(addrs)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			conn.Close()
		})
	}
}

// TestBatchConnStampsArrivals checks that a read notes the time the kernel
// received the packet, not the time of the read.
func TestBatchConnStampsArrivals(t *testing.T) {
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var a arrivalTable
	bc := newBatchConn(sock, &a, nil)
	defer bc.Close()
	sender, err := net.DialUDP("udp4", nil, sock.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	// The kernel turns timestamps on for the first socket that asks a
	// little later (a deferred static key): give it that time.
	time.Sleep(20 * time.Millisecond)

	sent := time.Now()
	if _, err := sender.Write(rtpWithTWCC(t, 42, 1000, 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	read := time.Now()
	buf := make([]byte, 1500)
	if _, _, err := bc.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	got, ok := a.lookup(42, 1000, time.Now().UnixNano())
	if !ok {
		t.Fatal("no arrival time noted")
	}
	if at := time.Unix(0, got); at.Before(sent.Add(-time.Millisecond)) || !at.Before(read) {
		t.Errorf("arrival noted %v after sending, read %v after sending", at.Sub(sent), read.Sub(sent))
	}
}

package crossbar_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// openFiles counts the process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(fds)
}

// dialTCP connects a raw WebSocket to url and returns it with the TCP
// connection under it, so that a test can drop the link in ways a
// WebSocket library would not.
func dialTCP(t *testing.T, url string) (*websocket.Conn, *net.TCPConn) {
	t.Helper()
	var tcp *net.TCPConn
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				tcp = c.(*net.TCPConn)
			}
			return c, err
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{signaling.Subprotocol}, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return ws, tcp
}

// Every way a client can vanish without a closing handshake leaves the
// server with no descriptor of it: a dropped link must not cost the host app
// a file per client, or any client could make it stop accepting.
func TestAbruptDisconnectsLeakNoDescriptors(t *testing.T) {
	const drops = 200
	big := `{"v":1,"type":"signal","signal":{"data":"` + strings.Repeat("x", signaling.MaxMessageSize) + `"}}`
	kinds := map[string]func(ws *websocket.Conn, tcp *net.TCPConn){
		"fin": func(_ *websocket.Conn, tcp *net.TCPConn) { tcp.Close() },
		"rst": func(_ *websocket.Conn, tcp *net.TCPConn) { tcp.SetLinger(0); tcp.Close() },
		"binary frame": func(ws *websocket.Conn, tcp *net.TCPConn) {
			ws.Write(context.Background(), websocket.MessageBinary, []byte{1, 2, 3})
			tcp.Close()
		},
		"oversize frame": func(ws *websocket.Conn, tcp *net.TCPConn) {
			ws.Write(context.Background(), websocket.MessageText, []byte(big))
			tcp.Close()
		},
	}
	for name, drop := range kinds {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, crossbar.Config{})
			s := h.session()
			tok := h.token(s, crossbar.RoleSubscriber, "")
			connect, _ := signaling.Encode(&signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: tok})
			before := openFiles(t)
			for range drops {
				ws, tcp := dialTCP(t, h.ws)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := ws.Write(ctx, websocket.MessageText, connect); err != nil {
					t.Fatal(err)
				}
				if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), `"connected"`) {
					t.Fatalf("connect: %s %v", b, err)
				}
				cancel()
				drop(ws, tcp)
				ws.CloseNow()
			}
			// Well inside the reconnect grace: a detached connection
			// holds no socket while it waits for its client.
			var n int
			if !poll(5*time.Second, func() bool { n = openFiles(t); return n <= before+5 }) {
				t.Fatalf("descriptors: %d before, %d after %d drops", before, n, drops)
			}
			t.Logf("descriptors: %d before, %d after %d drops", before, n, drops)
		})
	}
}

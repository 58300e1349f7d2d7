package crossbar

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/pion/turn/v2"

	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// TURNConfig runs a TURN server (pion/turn) in the server's process, so
// that clients behind firewalls that block UDP, or allow only TLS, reach
// the media through it without a separate coturn. Each client gets
// credentials of its own with its "connected" message, valid for
// CredentialTTL; the nodes of a cluster, which share the API secret,
// accept each other's. It is off unless one of UDPAddr, TCPAddr and
// TLSAddr is set.
//
// The server relays to this host's own addresses (the forwarding engine)
// and to public addresses (the clients of relayed sessions), never to
// other private, loopback or link-local ones: it is no way into the
// host's network.
type TURNConfig struct {
	// PublicIP is the address clients reach the TURN server and its relays
	// on: it is in the URLs clients are given and in relayed candidates.
	// Required.
	PublicIP string
	// Host names the server in the URLs clients are given: a DNS name the
	// TLS certificate holds (browsers check it for turns: URLs). Empty:
	// PublicIP.
	Host string
	// UDPAddr, TCPAddr and TLSAddr are where TURN over UDP, TCP and TLS
	// listen ("" turns each off): ":3478", ":3478" and ":5349" are the
	// standard ports; ":443" for TLS passes firewalls that allow HTTPS only.
	UDPAddr, TCPAddr, TLSAddr string
	// TLSConfig holds the certificate of TURN over TLS.
	TLSConfig *tls.Config
	// RelayIP is the local address relays listen on; empty: every
	// interface ("0.0.0.0").
	RelayIP string
	// RelayPortMin and RelayPortMax bound the UDP ports of relays; zero
	// means 49152 and 65535. Open them in the firewall.
	RelayPortMin, RelayPortMax uint16
	// CredentialTTL is how long a client's credentials stay valid, and
	// with them its relays (allocations are refreshed with them); a
	// client that resumes gets new ones. Zero means 24 h.
	CredentialTTL time.Duration
	// Realm is the TURN realm; empty means "crossbar".
	Realm string
}

// enabled reports whether c asks for a TURN server.
func (c TURNConfig) enabled() bool { return c.UDPAddr != "" || c.TCPAddr != "" || c.TLSAddr != "" }

// turnServer is the embedded TURN server and what clients are told of it.
type turnServer struct {
	srv    *turn.Server
	secret string   // of the time-limited credentials (TURN REST API's)
	urls   []string // as the listeners are bound
	ttl    time.Duration
}

// startTURN starts the TURN server cfg describes. Its credentials are
// made with a secret derived from apiSecret; publicIPs are the engine's
// public addresses, to which relays may go.
func startTURN(cfg TURNConfig, apiSecret string, publicIPs []string, log *slog.Logger) (*turnServer, error) {
	public := net.ParseIP(cfg.PublicIP)
	if public == nil {
		return nil, fmt.Errorf("%w: TURN public IP %q", ErrInvalidOption, cfg.PublicIP)
	}
	if cfg.TLSAddr != "" && cfg.TLSConfig == nil {
		return nil, fmt.Errorf("%w: TURN over TLS needs a TLSConfig", ErrInvalidOption)
	}
	ts := &turnServer{ttl: cfg.CredentialTTL}
	if ts.ttl <= 0 {
		ts.ttl = 24 * time.Hour
	}
	mac := hmac.New(sha256.New, []byte(apiSecret))
	mac.Write([]byte("crossbar TURN credentials"))
	ts.secret = hex.EncodeToString(mac.Sum(nil))

	relay := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorPortRange{
			RelayAddress: public,
			Address:      cmp.Or(cfg.RelayIP, "0.0.0.0"),
			MinPort:      cmp.Or(cfg.RelayPortMin, uint16(49152)),
			MaxPort:      cmp.Or(cfg.RelayPortMax, uint16(65535)),
		}
	}
	allowed, err := relayTargets(append([]string{cfg.PublicIP}, publicIPs...))
	if err != nil {
		return nil, err
	}
	host := cmp.Or(cfg.Host, cfg.PublicIP)
	var sc turn.ServerConfig
	var closers []func() error
	fail := func(err error) (*turnServer, error) {
		for _, c := range closers {
			_ = c()
		}
		return nil, err
	}
	if cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", cfg.UDPAddr)
		if err != nil {
			return fail(fmt.Errorf("crossbar: TURN over UDP: %w", err))
		}
		closers = append(closers, pc.Close)
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: relay(), PermissionHandler: allowed})
		ts.urls = append(ts.urls, turnURL("turn", host, pc.LocalAddr(), "udp"))
	}
	for _, l := range []struct {
		addr, scheme string
		tls          *tls.Config
	}{{cfg.TCPAddr, "turn", nil}, {cfg.TLSAddr, "turns", cfg.TLSConfig}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fail(fmt.Errorf("crossbar: TURN listener on %s: %w", l.addr, err))
		}
		closers = append(closers, ln.Close)
		url := turnURL(l.scheme, host, ln.Addr(), "tcp")
		if l.tls != nil {
			ln = tls.NewListener(ln, l.tls)
		}
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: relay(), PermissionHandler: allowed})
		ts.urls = append(ts.urls, url)
	}
	logs := sfu.PionLoggerFactory(log.With("component", "turn"))
	sc.Realm = cmp.Or(cfg.Realm, "crossbar")
	sc.LoggerFactory = logs
	sc.AuthHandler = turn.NewLongTermAuthHandler(ts.secret, logs.NewLogger("auth"))
	if ts.srv, err = turn.NewServer(sc); err != nil {
		return fail(fmt.Errorf("crossbar: TURN server: %w", err))
	}
	return ts, nil
}

// turnURL returns the URL of a TURN listener bound to addr.
func turnURL(scheme, host string, addr net.Addr, transport string) string {
	_, port, _ := net.SplitHostPort(addr.String())
	return scheme + ":" + net.JoinHostPort(host, port) + "?transport=" + transport
}

// relayTargets returns the TURN permission handler: relays may reach this
// host's addresses and the given ones, and public addresses, but no other
// private, loopback or link-local address.
func relayTargets(extra []string) (turn.PermissionHandler, error) {
	own := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("crossbar: TURN: list this host's addresses: %w", err)
	}
	for _, a := range addrs {
		if ipNet, ok := a.(*net.IPNet); ok {
			own[ipNet.IP.String()] = true
		}
	}
	for _, s := range extra {
		if ip := net.ParseIP(s); ip != nil {
			own[ip.String()] = true
		}
	}
	return func(_ net.Addr, peer net.IP) bool {
		return own[peer.String()] || peer.IsGlobalUnicast() && !peer.IsPrivate()
	}, nil
}

// iceServer returns the TURN server's entry for one client, with
// credentials valid for the TTL from now.
func (ts *turnServer) iceServer() (signaling.ICEServer, error) {
	user, pass, err := turn.GenerateLongTermCredentials(ts.secret, ts.ttl)
	if err != nil {
		return signaling.ICEServer{}, fmt.Errorf("crossbar: TURN credentials: %w", err)
	}
	return signaling.ICEServer{URLs: ts.urls, Username: user, Credential: pass}, nil
}

// close stops the TURN server and its relays.
func (ts *turnServer) close() error {
	if ts == nil {
		return nil
	}
	if err := ts.srv.Close(); err != nil {
		return fmt.Errorf("crossbar: close TURN server: %w", err)
	}
	return nil
}

// clientICEServers returns the STUN/TURN servers a connecting client is
// given: those of Config.Media, and the embedded TURN server with
// credentials of the client's own.
func (srv *Server) clientICEServers() []signaling.ICEServer {
	if srv.turn == nil {
		return srv.iceServers
	}
	ice, err := srv.turn.iceServer()
	if err != nil {
		srv.log.Warn("a client gets no TURN server", "err", err)
		return srv.iceServers
	}
	return append(slices.Clip(srv.iceServers), ice)
}

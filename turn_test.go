package crossbar_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v2"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// selfSigned returns a TLS configuration with a certificate for 127.0.0.1,
// and a pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crossbar test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// turnEntry returns the embedded TURN server's entry among a client's ICE
// servers.
func turnEntry(t *testing.T, servers []signaling.ICEServer) signaling.ICEServer {
	t.Helper()
	for _, s := range servers {
		if len(s.URLs) > 0 && strings.HasPrefix(s.URLs[0], "turn") {
			return s
		}
	}
	t.Fatalf("no TURN server among %+v", servers)
	return signaling.ICEServer{}
}

// TestTURNCredentialsOverTLS connects a Go client, and allocates a relay
// with the credentials it was given from a TURN client over TLS; wrong
// credentials get none.
func TestTURNCredentialsOverTLS(t *testing.T) {
	serverTLS, pool := selfSigned(t)
	h := newHarness(t, crossbar.Config{TURN: crossbar.TURNConfig{PublicIP: "127.0.0.1", RelayIP: "127.0.0.1", TLSAddr: "127.0.0.1:0", TLSConfig: serverTLS, CredentialTTL: time.Hour}})
	c := h.connect(h.session(), crossbar.RolePublisher, "behind a firewall")
	ice := turnEntry(t, c.ICEServers())
	if len(ice.URLs) != 1 || !strings.HasPrefix(ice.URLs[0], "turns:127.0.0.1:") || !strings.HasSuffix(ice.URLs[0], "?transport=tcp") {
		t.Fatalf("TURN URLs %v, want one turns: URL on 127.0.0.1", ice.URLs)
	}
	expiry, err := strconv.ParseInt(ice.Username, 10, 64)
	if err != nil || time.Until(time.Unix(expiry, 0)).Round(time.Minute) != time.Hour {
		t.Errorf("username %q: want the credentials' expiry, an hour from now", ice.Username)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(ice.URLs[0], "turns:"), "?transport=tcp")

	allocate := func(password string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := (&tls.Dialer{Config: &tls.Config{RootCAs: pool}}).DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		tc, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: turn.NewSTUNConn(conn),
			Username: ice.Username, Password: password, Realm: "crossbar"})
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		if err := tc.Listen(); err != nil {
			t.Fatal(err)
		}
		relay, err := tc.Allocate()
		if err != nil {
			return err
		}
		defer relay.Close()
		if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("relayed address %v, want the public IP", relay.LocalAddr())
		}
		return nil
	}
	if err := allocate(ice.Credential); err != nil {
		t.Fatalf("allocate with the client's credentials: %v", err)
	}
	if err := allocate(ice.Credential + "x"); err == nil {
		t.Fatal("allocated with a wrong password")
	}
}

package crossbar

import (
	"net"
	"testing"
)

// TestTURNRelaysNotIntoPrivateNetworks checks the TURN server's permission
// handler: relays reach this host and public addresses, not other private,
// loopback or link-local ones. It sends nothing.
func TestTURNRelaysNotIntoPrivateNetworks(t *testing.T) {
	allowed, err := relayTargets([]string{"10.9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"127.0.0.1":   true, // this host: the forwarding engine
		"10.9.9.9":    true, // the engine's public IP, given: a 1:1 NAT's inside
		"8.8.8.8":     true, // a client of a relayed session
		"10.1.2.3":    false,
		"192.168.1.1": false,
		"172.16.0.1":  false,
		"169.254.1.1": false,
		"127.0.0.2":   false,
		"fd00::1":     false,
		"0.0.0.0":     false,
	} {
		if got := allowed(nil, net.ParseIP(ip)); got != want {
			t.Errorf("relay to %s allowed: %v, want %v", ip, got, want)
		}
	}
}

package sfu

import (
	"fmt"
	"net"

	"github.com/pion/transport/v2"
)

// hasNetwork reports whether n has an interface other than loopback that
// is up and has an address clients on other hosts may reach (neither
// loopback nor link-local): one the engine's media sockets can serve on.
// A host without one (a container with no network, a namespace with only
// lo) would otherwise open no media socket at all when listening on every
// interface, and every client's ICE would fail without a word.
func hasNetwork(n transport.Net) (bool, error) {
	ifaces, err := n.Interfaces()
	if err != nil {
		return false, fmt.Errorf("sfu: list network interfaces: %w", err)
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && !ip.IP.IsLinkLocalUnicast() {
				return true, nil
			}
		}
	}
	return false, nil
}

// everyInterface reports whether the media sockets listen on every local
// interface (an unspecified UDPAddr, or a port range), which the engine
// then finds by listing them, rather than on an address given.
func (c Config) everyInterface() bool {
	if c.UDPAddr == "" {
		return true
	}
	host, _, err := net.SplitHostPort(c.UDPAddr)
	if err != nil {
		return false // listenUDP says what is wrong with it
	}
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

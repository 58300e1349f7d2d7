package app

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crossbar-rtc/crossbar"
)

// Deployment holds the command-line flags that put an example on a real
// host: where media and TURN listen, the public IP, the TLS certificate.
// See docs/deploy.md.
type Deployment struct {
	media, iceTCP, publicIP string
	turn, turnTLS           string
	cert, key               string
	metrics                 string
	registry                *prometheus.Registry // with -metrics
}

// Flags defines the deployment's flags on fs.
func (d *Deployment) Flags(fs *flag.FlagSet) {
	fs.StringVar(&d.media, "media", "", `UDP address of the media socket that every peer connection shares, e.g. ":50000" (default: a port the system picks, on every interface)`)
	fs.StringVar(&d.iceTCP, "ice-tcp", "", `TCP address for ICE-TCP, for clients whose UDP is blocked, e.g. ":50000"`)
	fs.StringVar(&d.publicIP, "public-ip", "", "the host's public IP, behind a 1:1 NAT (a cloud VM): put in media candidates and TURN relays")
	fs.StringVar(&d.turn, "turn", "", `run a TURN server over UDP and TCP on this address, e.g. ":3478" (needs -public-ip)`)
	fs.StringVar(&d.turnTLS, "turn-tls", "", `run TURN over TLS on this address, e.g. ":5349" (needs -public-ip and -tls-cert)`)
	fs.StringVar(&d.cert, "tls-cert", "", "certificate file (PEM, with its chain): serve HTTPS, which browsers need for cameras outside localhost, and TURN over TLS")
	fs.StringVar(&d.key, "tls-key", "", "the certificate's private key file (PEM)")
	fs.StringVar(&d.metrics, "metrics", "", `serve Prometheus metrics at /metrics on this address, e.g. "127.0.0.1:9090" (keep it off the public port)`)
}

// Apply sets cfg's media and TURN configuration from the flags, and
// returns the TLS configuration to serve HTTPS with, or nil for HTTP. A
// media address on a loopback IP keeps all media on loopback.
func (d *Deployment) Apply(cfg *crossbar.Config) (*tls.Config, error) {
	if d.metrics != "" {
		d.registry = prometheus.NewRegistry()
		cfg.Metrics = d.registry
	}
	cfg.Media.UDPAddr = d.media
	if host, _, err := net.SplitHostPort(d.media); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			cfg.Media.LoopbackOnly = true
		}
	}
	cfg.Media.TCPAddr = d.iceTCP
	if d.publicIP != "" {
		cfg.Media.PublicIPs = []string{d.publicIP}
	}
	var tlsConfig *tls.Config
	if d.cert != "" || d.key != "" {
		cert, err := tls.LoadX509KeyPair(d.cert, d.key)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert, -tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if d.turn == "" && d.turnTLS == "" {
		return tlsConfig, nil
	}
	if d.publicIP == "" {
		return nil, errors.New("-turn and -turn-tls need -public-ip: the address clients reach the relays on")
	}
	if d.turnTLS != "" && tlsConfig == nil {
		return nil, errors.New("-turn-tls needs -tls-cert and -tls-key")
	}
	cfg.TURN = crossbar.TURNConfig{PublicIP: d.publicIP, UDPAddr: d.turn, TCPAddr: d.turn, TLSAddr: d.turnTLS, TLSConfig: tlsConfig}
	return tlsConfig, nil
}

// ServeMetrics serves the metrics of the server Apply configured at
// /metrics on the -metrics address until ctx ends. The channel gets the
// result: nil at once without -metrics.
func (d *Deployment) ServeMetrics(ctx context.Context, logger *slog.Logger) <-chan error {
	done := make(chan error, 1)
	if d.metrics == "" {
		done <- nil
		return done
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{}))
	go func() {
		done <- ListenAndServe(ctx, d.metrics, nil, mux, func(url string) { logger.Info("metrics at " + url + "/metrics") })
	}()
	return done
}

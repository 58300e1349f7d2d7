package app

import (
	"flag"
	"strings"
	"testing"

	"github.com/crossbar-rtc/crossbar"
)

// apply parses args as the deployment's flags and applies them to a
// Config.
func apply(t *testing.T, args ...string) (crossbar.Config, error) {
	t.Helper()
	var d Deployment
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	d.Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	var cfg crossbar.Config
	_, err := d.Apply(&cfg)
	return cfg, err
}

func TestDeploymentFlags(t *testing.T) {
	cfg, err := apply(t, "-media", ":50000", "-ice-tcp", ":50001", "-public-ip", "203.0.113.7", "-turn", ":3478", "-metrics", "127.0.0.1:9090")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Media.UDPAddr != ":50000" || cfg.Media.TCPAddr != ":50001" || len(cfg.Media.PublicIPs) != 1 || cfg.Media.PublicIPs[0] != "203.0.113.7" {
		t.Errorf("media %+v", cfg.Media)
	}
	if cfg.TURN.PublicIP != "203.0.113.7" || cfg.TURN.UDPAddr != ":3478" || cfg.TURN.TCPAddr != ":3478" || cfg.TURN.TLSAddr != "" {
		t.Errorf("TURN %+v", cfg.TURN)
	}
	if cfg.Metrics == nil {
		t.Error("-metrics gave the server no registry")
	}
	if cfg.Media.LoopbackOnly {
		t.Error("media on every interface is loopback only")
	}
	if cfg, err := apply(t, "-media", "127.0.0.1:0"); err != nil || !cfg.Media.LoopbackOnly {
		t.Errorf("media on a loopback address: %+v, %v; want loopback only", cfg.Media, err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-turn", ":3478"}, "-public-ip"},
		{[]string{"-public-ip", "203.0.113.7", "-turn-tls", ":5349"}, "-tls-cert"},
		{[]string{"-tls-cert", "/nonexistent.pem", "-tls-key", "/nonexistent.key"}, "-tls-cert"},
	} {
		if _, err := apply(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %s", c.args, err, c.want)
		}
	}
}

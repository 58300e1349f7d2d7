package crossbar

import (
	"errors"
	"fmt"
	"net/http"
)

// Live reports whether the server is running: nil until Close or
// Shutdown.
func (srv *Server) Live() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return errors.New("crossbar: server closed")
	}
	return nil
}

// Ready reports whether the server can take clients: it is running and
// not draining (Shutdown), its media sockets are bound (unless each peer
// connection gets its own port, Config.Media.PortMin), and in a cluster
// the bus answered the node's last heartbeat.
func (srv *Server) Ready() error {
	if err := srv.Live(); err != nil {
		return err
	}
	if srv.isDraining() {
		return ErrNodeDraining
	}
	if srv.cfg.Media.PortMin == 0 && len(srv.engine.LocalAddrs()) == 0 {
		return errors.New("crossbar: no media socket bound")
	}
	if srv.bus != nil {
		if err := srv.bus.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
		}
	}
	return nil
}

// LivenessHandler answers a liveness probe: 200 while the server runs
// (Live), 503 after. Mount it where the orchestrator looks, say
// mux.Handle("GET /livez", srv.LivenessHandler()).
func (srv *Server) LivenessHandler() http.Handler { return probe(srv.Live) }

// ReadinessHandler answers a readiness probe: 200 while the server can
// take clients (Ready), 503 with the reason otherwise, so that a load
// balancer sends new clients elsewhere. Mount it as
// mux.Handle("GET /readyz", srv.ReadinessHandler()).
func (srv *Server) ReadinessHandler() http.Handler { return probe(srv.Ready) }

// probe serves check's verdict as plain text.
func probe(check func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := check(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}

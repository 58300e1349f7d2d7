package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// downFor is how long the balancer skips a node it could not reach.
const downFor = 5 * time.Second

// balancer is a round-robin reverse proxy: each request, a WebSocket
// upgrade included, goes to the next node that is up. A node that refuses
// a connection is down for downFor, and the request goes to the next.
type balancer struct {
	nodes []*backend
	next  atomic.Uint64
}

// backend is one node behind the balancer.
type backend struct {
	proxy     *httputil.ReverseProxy
	downUntil atomic.Int64 // Unix ns
}

func newBalancer(logger *slog.Logger, names []string, urls []*url.URL) *balancer {
	b := &balancer{}
	for i, u := range urls {
		n := &backend{}
		n.proxy = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(u)
				r.Out.Host = r.In.Host // the page's origin, which the WebSocket's must match
				r.SetXForwarded()
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" {
					// Nothing reached the node: another can serve the request.
					logger.Warn("node down", "node", names[i], "err", err)
					n.downUntil.Store(time.Now().Add(downFor).UnixNano())
					b.ServeHTTP(w, r)
					return
				}
				logger.Warn("proxying", "node", names[i], "err", err)
				w.WriteHeader(http.StatusBadGateway)
			},
		}
		b.nodes = append(b.nodes, n)
	}
	return b
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for range b.nodes {
		n := b.nodes[(b.next.Add(1)-1)%uint64(len(b.nodes))]
		if time.Now().UnixNano() >= n.downUntil.Load() {
			n.proxy.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "no node is up", http.StatusServiceUnavailable)
}

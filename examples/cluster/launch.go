package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossbar-rtc/crossbar/examples/internal/app"
)

// startTimeout bounds how long redis-server and a node take to serve.
const startTimeout = 30 * time.Second

// launch runs a cluster on this machine until ctx ends: redis-server unless
// o.redis names one, o.nodes nodes, and the load balancer on o.addr.
func launch(ctx context.Context, logger *slog.Logger, o options) error {
	if o.nodes < 1 {
		return fmt.Errorf("-nodes %d: want at least one", o.nodes)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to run its nodes: %w", err)
	}
	if o.redis == "" {
		rs, addr, err := startRedis(ctx, logger)
		if err != nil {
			return err
		}
		defer stopAll([]*child{rs}, 0) // last, after the nodes
		o.redis = addr
	}
	secret := rand.Text() // the nodes' shared API secret
	var nodes []*child
	defer func() { stopAll(nodes, 10*time.Second) }()
	var backends []*url.URL
	var names []string
	for i := range o.nodes {
		id := fmt.Sprintf("n%d", i+1)
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		cmd := exec.Command(self, "-node", id, "-addr", addr, "-redis", o.redis, "-media", "127.0.0.1:0", "-parent")
		cmd.Env = append(os.Environ(), secretEnv+"="+secret)
		n, err := start(logger, cmd, id)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
		logger.Info("node started", "node", id, "pid", cmd.Process.Pid, "addr", addr)
		u := &url.URL{Scheme: "http", Host: addr}
		if err := n.waitServing(ctx, u.String()+"/"); err != nil {
			return err
		}
		backends, names = append(backends, u), append(names, id)
	}
	return app.ListenAndServe(ctx, o.addr, nil, newBalancer(logger, names, backends), func(url string) {
		logger.Info("cluster: open " + url + "/?room=demo")
	})
}

// child is a process the launcher started.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.Closer     // closing it stops a node (-parent)
	exited chan struct{} // closed once the process has exited
	err    error         // why it exited, once it has
}

// start starts cmd, with the launcher's standard output and error, and
// logs its exit. It ends with the launcher: by stopAll, or else when its
// standard input closes (a node's -parent) or by dieWithParent.
func start(logger *slog.Logger, cmd *exec.Cmd, name string) (*child, error) {
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
		logger.Info("exited", "child", name, "err", c.err)
	}()
	return c, nil
}

// stopAll closes the children's standard input, gives them grace to exit,
// and then kills those still running.
func stopAll(children []*child, grace time.Duration) {
	for _, c := range children {
		_ = c.stdin.Close()
	}
	deadline := time.After(grace)
	for _, c := range children {
		select {
		case <-c.exited:
			continue
		case <-deadline:
		}
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// waitServing polls url until it answers, the child exits, or ctx ends.
func (c *child) waitServing(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return c.poll(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	})
}

// poll calls probe until it succeeds, the child exits, or ctx ends.
func (c *child) poll(ctx context.Context, probe func(context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := probe(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited before it served: %w", c.name, c.err)
		case <-ctx.Done():
			return fmt.Errorf("%s does not serve: %w", c.name, errors.Join(err, ctx.Err()))
		case <-tick.C:
		}
	}
}

// startRedis runs redis-server, without persistence, on a free loopback
// port, and returns it and its address.
func startRedis(ctx context.Context, logger *slog.Logger) (*child, string, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, "", fmt.Errorf("install redis-server, or name a Redis server with -redis: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--loglevel", "warning")
	dieWithParent(cmd)
	rs, err := start(logger, cmd, "redis-server")
	if err != nil {
		return nil, "", err
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer func() { _ = rdb.Close() }()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := rs.poll(ctx, func(ctx context.Context) error { return rdb.Ping(ctx).Err() }); err != nil {
		stopAll([]*child{rs}, 0)
		return nil, "", err
	}
	logger.Info("redis-server started", "pid", cmd.Process.Pid, "addr", addr)
	return rs, addr, nil
}

// freeAddr returns a loopback address with a port no one listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is the redis-server of a cluster run, on a loopback port.
type redisServer struct {
	addr string
	dir  string // its working directory, removed by stop
	cmd  *exec.Cmd
	rdb  *redis.Client // the load process's own, for INFO
}

// startRedis starts redis-server on a free loopback port, without
// persistence, and waits until it answers. It dies with the load process
// (the parent-death signal) if stop is never called.
func startRedis(ctx context.Context) (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("-nodes above 1 needs redis-server on the PATH: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close() // the port is free for redis-server
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "crossbar-load-redis")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &redisServer{addr: addr, dir: dir, cmd: cmd, rdb: redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})}
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := r.rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			r.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a process that is starting
	}
}

// stop kills the server and removes its directory.
func (r *redisServer) stop() {
	_ = r.rdb.Close()
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	_ = os.RemoveAll(r.dir)
}

// commands returns how many commands the server has run, but for the INFO
// commands that read this count.
func (r *redisServer) commands(ctx context.Context) (uint64, error) {
	info, err := r.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO commandstats: %w", err)
	}
	return sumCalls(info)
}

// sumCalls adds up the calls of INFO commandstats lines such as
// "cmdstat_publish:calls=12,usec=40,...", but for cmdstat_info.
func sumCalls(info string) (uint64, error) {
	var n uint64
	for line := range strings.Lines(info) {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(stats, ",")
		v, found := strings.CutPrefix(calls, "calls=")
		if !found {
			return 0, fmt.Errorf("redis INFO commandstats: no calls in %q", line)
		}
		c, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("redis INFO commandstats: %q: %w", line, err)
		}
		n += c
	}
	return n, nil
}

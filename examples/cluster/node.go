package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
	"github.com/crossbar-rtc/crossbar/examples/videochat/room"
)

// runNode serves the videochat room as node o.node of the cluster on
// o.redis until ctx ends.
func runNode(ctx context.Context, logger *slog.Logger, o options) (err error) {
	secret := os.Getenv(secretEnv)
	if secret == "" {
		return fmt.Errorf("$%s is empty: give every node the same API secret", secretEnv)
	}
	if o.redis == "" {
		return errors.New("-redis is required with -node")
	}
	if o.parent {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	rdb := redis.NewClient(&redis.Options{Addr: o.redis})
	defer func() { err = errors.Join(err, rdb.Close()) }()
	bus, err := cluster.NewRedis(ctx, cluster.RedisOptions{Client: rdb, Node: cluster.Node{ID: o.node}})
	if err != nil {
		return fmt.Errorf("join the cluster on Redis %s: %w", o.redis, err)
	}
	defer func() { err = errors.Join(err, bus.Close()) }()
	cfg := crossbar.Config{APISecret: secret, Cluster: bus, Logger: logger}
	tlsConfig, err := o.deploy.Apply(&cfg)
	if err != nil {
		return err
	}
	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	a.Rooms = redisRooms{rdb}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	metrics := o.deploy.ServeMetrics(ctx, logger)
	err = app.ListenAndServe(ctx, o.addr, tlsConfig, room.Handler(a), func(url string) {
		logger.Info("node serving", "url", url)
	})
	cancel() // the metrics too, if serving failed
	return errors.Join(err, drain(logger, a.Server), <-metrics)
}

// drainTimeout bounds a node's drain when it stops.
const drainTimeout = 5 * time.Second

// drain moves the node's clients to the other nodes, as a rolling deploy
// wants, and closes it. Clients with nowhere to go (every node is
// stopping) are left when drainTimeout is over.
func drain(logger *slog.Logger, srv *crossbar.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	start := time.Now()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("node stopped before all its clients moved", "err", err)
		return nil
	}
	logger.Info("node drained", "took", time.Since(start).Round(time.Millisecond))
	return err
}

// roomKey starts the Redis key of a room, whose value is its session id.
const roomKey = "crossbar-example:room:"

// redisRooms keeps which session each room is in Redis, where every node
// finds it: the first node to make a room's session sets it.
type redisRooms struct{ rdb *redis.Client }

func (r redisRooms) Get(ctx context.Context, name string) (string, error) {
	id, err := r.rdb.Get(ctx, roomKey+name).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return id, err
}

func (r redisRooms) Claim(ctx context.Context, name, id string) (string, error) {
	set, err := r.rdb.SetNX(ctx, roomKey+name, id, 0).Result()
	if err != nil || set {
		return id, err
	}
	return r.rdb.Get(ctx, roomKey+name).Result()
}

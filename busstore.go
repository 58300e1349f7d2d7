package crossbar

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/crossbar-rtc/crossbar/cluster"
)

// busStore is the Store of a cluster that was given none: session records
// and revocations as records on the cluster's bus, which every node reads.
type busStore struct {
	bus   cluster.Bus
	clock Clock
}

// The bus's record sets of a busStore.
const (
	sessionsSet = "sessions"
	revokedSet  = "revoked" // token id: Unix ms until which it is revoked
)

func (b busStore) PutSession(ctx context.Context, info SessionInfo) error {
	v, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return b.bus.Put(ctx, sessionsSet, info.ID, v)
}

func (b busStore) GetSession(ctx context.Context, id string) (SessionInfo, error) {
	v, err := b.bus.Get(ctx, sessionsSet, id)
	if errors.Is(err, cluster.ErrNotFound) {
		return SessionInfo{}, ErrSessionNotFound
	}
	if err != nil {
		return SessionInfo{}, err
	}
	var info SessionInfo
	err = json.Unmarshal(v, &info)
	return info, err
}

func (b busStore) DeleteSession(ctx context.Context, id string) error {
	return b.bus.Delete(ctx, sessionsSet, id)
}

func (b busStore) ListSessions(ctx context.Context) ([]SessionInfo, error) {
	all, err := b.bus.Records(ctx, sessionsSet)
	if err != nil {
		return nil, err
	}
	list := make([]SessionInfo, 0, len(all))
	for _, v := range all {
		var info SessionInfo
		if json.Unmarshal(v, &info) == nil {
			list = append(list, info)
		}
	}
	slices.SortFunc(list, func(a, b SessionInfo) int { return a.CreationTime.Compare(b.CreationTime) })
	return list, nil
}

// RevokeToken records the revocation and forgets those that have run out,
// so the set holds only the revocations that still count.
func (b busStore) RevokeToken(ctx context.Context, tokenID string, until time.Time) error {
	if err := b.bus.Put(ctx, revokedSet, tokenID, strconv.AppendInt(nil, until.UnixMilli(), 10)); err != nil {
		return err
	}
	all, err := b.bus.Records(ctx, revokedSet)
	if err != nil {
		return err
	}
	now := b.clock.Now()
	var over []string
	for id, v := range all {
		if u, err := strconv.ParseInt(string(v), 10, 64); err != nil || !now.Before(time.UnixMilli(u)) {
			over = append(over, id)
		}
	}
	if len(over) == 0 {
		return nil
	}
	return b.bus.Delete(ctx, revokedSet, over...)
}

func (b busStore) IsRevoked(ctx context.Context, tokenID string) (bool, error) {
	v, err := b.bus.Get(ctx, revokedSet, tokenID)
	if errors.Is(err, cluster.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	until, err := strconv.ParseInt(string(v), 10, 64)
	return err == nil && b.clock.Now().Before(time.UnixMilli(until)), nil
}

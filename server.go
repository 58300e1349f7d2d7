package crossbar

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// Config configures a Server.
type Config struct {
	// APIKey and APISecret identify the project and sign its tokens, as
	// OpenTok's do: tokens that OpenTok's server SDKs make with the same
	// pair are accepted.
	APIKey    string
	APISecret string

	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger

	// Store keeps session records and revocations; nil keeps them in
	// memory (NewMemoryStore).
	Store Store

	// ReconnectGrace is how long a connection whose transport dropped
	// without a goodbye waits for its client to resume before it ends
	// with reason networkDisconnected; its streams wait with it. Zero
	// means 60 s, as long as OpenTok's clients try to reconnect (and the
	// shipped clients do); negative, none.
	ReconnectGrace time.Duration

	// MaxConnectionsPerSession refuses further connects (code 1027).
	// Zero means 3000, OpenTok's limit.
	MaxConnectionsPerSession int

	// ConnectionEventsLimit keeps joins cheap in large sessions. A
	// connection that joins a session already this large is not announced
	// to other clients (connectionCreated, connectionDestroyed), and its
	// client receives only the connections that publish, as clients that
	// ask for connectionEventsSuppressed do: each join then costs the
	// others nothing. The host's callbacks see every connection. Zero
	// means 500; negative, no limit.
	ConnectionEventsLimit int

	// MaxStreamsPerConnection caps the streams one connection publishes
	// at a time; MaxSubscriptionsPerSession caps the subscriptions of all
	// connections of a session (code 1605 beyond either). Zero means 16
	// and 3000, OpenTok's limit.
	MaxStreamsPerConnection    int
	MaxSubscriptionsPerSession int

	// Signals bounds what clients' signals may cost a session.
	Signals SignalLimits

	// OriginPatterns lists the cross-origin hosts whose pages may open the
	// signaling WebSocket; nil allows same-origin pages only.
	OriginPatterns []string

	// PingInterval is how often the server pings each client over a
	// transport with a keep-alive of its own (signaling.KeepAliver: the
	// WebSocket), and PingTimeout how long it waits for the pong before it
	// takes the link for dead. Over other transports the client pings
	// (PROTOCOL.md), and the server takes the link for dead when nothing
	// came from the client for PingInterval+PingTimeout. A dead link is
	// detached, as when the transport fails, and its connection waits
	// ReconnectGrace for the client to resume. A link that dies without a
	// goodbye (a half-open connection, a partition) is so noticed within
	// PingInterval+PingTimeout. Zero means signaling.DefaultPingInterval
	// and DefaultPingTimeout (3 s and 5 s).
	PingInterval time.Duration
	PingTimeout  time.Duration

	// Cluster joins the server to the others that share its bus (see
	// package cluster; cluster.NewRedis makes one): clients connect to
	// any node of a cluster, and a session spans the nodes its clients
	// use. Session records and revocations then live on the bus unless
	// Store is set. Nil: a single node, with nothing to set up.
	Cluster cluster.Bus

	// SignalOnlyStreams lets clients of routed sessions publish streams
	// without media: a "publish" with neither sdp nor tracks makes a
	// stream that is announced at once, as in a relayed session, and
	// whose subscribers get nothing for it (PROTOCOL.md, "Signal-only
	// streams"). Everything else about it is a stream's: limits, events,
	// moderation, callbacks. Tests of an application's logic use them
	// (package crossbartest turns this on) to publish and subscribe
	// without WebRTC. Off, such a publish is refused (1011): a stream that
	// never shows anything would puzzle the other clients.
	SignalOnlyStreams bool

	// Clock is the time of the session logic: tokens, revocations, the
	// reconnect grace period, creation times (see Clock). Nil means the
	// system's.
	Clock Clock

	// TURN runs a TURN server in this process, whose credentials each
	// client gets when it connects, with the STUN/TURN servers of Media.
	// Off by default.
	TURN TURNConfig

	// Metrics, if set, is where the server registers its Prometheus
	// metrics (see docs/deploy.md for the list): a registry of the host's,
	// such as prometheus.NewRegistry() served by promhttp.HandlerFor, or
	// prometheus.DefaultRegisterer if the host asks for the global one.
	// Nil: no metrics are registered.
	Metrics prometheus.Registerer

	// Archives keeps the files of archives (Server.StartArchive). Nil
	// means a directory "crossbar-archives" in os.TempDir.
	Archives archive.Storage

	// FFmpeg is the ffmpeg command that composes composed archives (a
	// path, or a name looked up on the PATH); empty means "ffmpeg".
	FFmpeg string

	// Media configures the forwarding engine of routed sessions: UDP port
	// or range, ICE-TCP, public IPs behind 1:1 NAT, and the STUN/TURN
	// servers handed to clients. The zero value works on localhost.
	Media sfu.Config

	// Captions is the speech-to-text engine of live captions
	// (StartCaptions): the host plugs its recognizer in. Nil: no live
	// captions (StartCaptions returns ErrNotSupported). FixedTranscript
	// is one that works offline, for tests and demos.
	Captions SpeechToText

	// Webhook, if its URL is set, receives OpenTok's session-monitoring
	// callbacks (see WebhookConfig).
	Webhook WebhookConfig
}

// Server is the top-level object a host app creates: it makes sessions and
// tokens, and serves clients through Handler or ServeTransport.
type Server struct {
	cfg        Config
	log        *slog.Logger
	store      Store
	engine     *sfu.Engine
	iceServers []signaling.ICEServer
	turn       *turnServer // nil without Config.TURN
	metrics    *metrics

	// In a cluster: the bus, the nodes alive as it last said, and those
	// taken for dead since, whose connections left (both guarded by mu).
	bus       cluster.Bus
	origin    string // names this process's signals: the node id and a random part
	alive     map[string]cluster.Node
	departed  map[string]bool
	links     nodeLinks  // media links with other nodes (nodelink.go)
	linkQueue dispatcher // sends their messages, in order

	claims onceSet // REST JWTs' jti, without a cluster (restauth.go)
	hooks  *webhooks

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
	draining bool // Shutdown: clients are asked to move to other nodes
	onNew    func(*Session)

	archives   archives     // archives started here (archive.go)
	captions   captionsList // live captions running here (captions.go)
	broadcasts broadcasts   // broadcasts started here (broadcast.go)
	// calls are this node's archive calls to others, waiting for their
	// answers, by call id (archivenode.go); under mu.
	calls map[string]chan<- *nodeMessage
}

// New returns a Server for the project cfg names.
func New(cfg Config) (*Server, error) {
	if cfg.APIKey == "" || strings.Contains(cfg.APIKey, "~") {
		return nil, fmt.Errorf("%w: API key must be non-empty and free of '~'", ErrInvalidOption)
	}
	if len(cfg.APISecret) < 16 {
		return nil, fmt.Errorf("%w: API secret must be at least 16 bytes", ErrInvalidOption)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hooks, err := newWebhooks(cfg.Webhook, cfg.APIKey, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Store == nil && cfg.Cluster != nil {
		cfg.Store = busStore{cfg.Cluster, cfg.Clock}
	}
	if cfg.Store == nil {
		ms := NewMemoryStore()
		ms.now = cfg.Clock.Now
		cfg.Store = ms
	}
	if cfg.Archives == nil {
		cfg.Archives = archive.Dir(filepath.Join(os.TempDir(), "crossbar-archives"))
	}
	if cfg.ReconnectGrace == 0 {
		cfg.ReconnectGrace = 60 * time.Second
	}
	if cfg.MaxConnectionsPerSession <= 0 {
		cfg.MaxConnectionsPerSession = 3000
	}
	if cfg.ConnectionEventsLimit == 0 {
		cfg.ConnectionEventsLimit = 500
	}
	cfg.Signals.setDefaults()
	if cfg.MaxStreamsPerConnection <= 0 {
		cfg.MaxStreamsPerConnection = 16
	}
	if cfg.MaxSubscriptionsPerSession <= 0 {
		cfg.MaxSubscriptionsPerSession = 3000
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = signaling.DefaultPingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = signaling.DefaultPingTimeout
	}
	if cfg.Media.PublishTimeout <= 0 {
		cfg.Media.PublishTimeout = sfu.DefaultPublishTimeout
	}
	if cfg.Media.Logger == nil {
		cfg.Media.Logger = cfg.Logger.With("component", "sfu")
	}
	engine, err := sfu.New(cfg.Media)
	if err != nil {
		return nil, fmt.Errorf("crossbar: media engine: %w", err)
	}
	srv := &Server{cfg: cfg, log: cfg.Logger, store: cfg.Store, engine: engine, sessions: map[string]*Session{}, bus: cfg.Cluster, hooks: hooks, metrics: newMetrics()}
	if cfg.TURN.enabled() {
		if srv.turn, err = startTURN(cfg.TURN, cfg.APISecret, cfg.Media.PublicIPs, cfg.Logger); err != nil {
			_ = engine.Close()
			return nil, err
		}
	}
	if cfg.Metrics != nil {
		if err := srv.metrics.register(cfg.Metrics, srv); err != nil {
			_ = errors.Join(engine.Close(), srv.turn.close())
			return nil, fmt.Errorf("crossbar: register metrics: %w", err)
		}
	}
	for _, ice := range engine.ICEServers() {
		cred, _ := ice.Credential.(string)
		srv.iceServers = append(srv.iceServers, signaling.ICEServer{URLs: ice.URLs, Username: ice.Username, Credential: cred})
	}
	if srv.bus != nil {
		// A node restarted under its id numbers its signals anew.
		srv.origin = srv.bus.Node().ID + "." + newID()[:8]
		// What the bus's Handler uses is ready before it listens.
		srv.links = nodeLinks{in: map[string]*sfu.LinkIn{}, out: map[string]*sfu.LinkOut{}}
		srv.linkQueue = dispatcher{log: srv.log, what: "link message"}
		srv.bus.Listen(busHandler{srv})
		ctx, cancel := context.WithTimeout(context.Background(), busTimeout)
		defer cancel()
		if err := srv.bus.Subscribe(ctx, revocationsTopic, nodeTopic(srv.bus.Node().ID)); err != nil {
			_ = errors.Join(engine.Close(), srv.turn.close())
			return nil, fmt.Errorf("crossbar: join the cluster: %w", err)
		}
	}
	go hooks.run()
	return srv, nil
}

// OnSession sets a callback run whenever a Session object comes to life in
// this process: on CreateSession, or when a session made elsewhere (a shared
// Store) is first used here. It is the place to set the session's callbacks.
// Until f returns, others who look the session up wait: f must not.
func (srv *Server) OnSession(f func(*Session)) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.onNew = f
}

// SessionOptions are the options of CreateSession.
type SessionOptions struct {
	MediaMode  MediaMode         // Routed (default) or Relayed
	VideoCodec VideoCodec        // of routed sessions: VP8 (default), H264, VP9, AnyCodec or CommonCodec
	Location   string            // an IP address hint, or empty
	Metadata   map[string]string // the host's own data, kept with the session
	// ArchiveMode always records the session (routed sessions only):
	// an individual archive, named ArchiveName, starts when its first
	// stream is published (see Server.StartArchive). Empty means manual:
	// the host starts archives.
	ArchiveMode ArchiveMode
	ArchiveName string
	// E2EE makes the session end-to-end encrypted, as OpenTok's e2ee
	// option: a client connects only with an encryption secret (the
	// browser client's encryptionSecret option; else 6000,
	// OT_ENCRYPTION_SECRET_MISSING), and seals its media with it, which
	// the server forwards unread. Routed sessions only, not of H.264 (its
	// sealed frames cannot be packetized), not always archived (an archive
	// would hold ciphertext).
	E2EE bool
}

// CreateSession makes a session and returns it. Its id has OpenTok's shape.
func (srv *Server) CreateSession(ctx context.Context, opts SessionOptions) (*Session, error) {
	switch opts.MediaMode {
	case "":
		opts.MediaMode = Routed
	case Routed, Relayed:
	default:
		return nil, fmt.Errorf("%w: media mode %q", ErrInvalidOption, opts.MediaMode)
	}
	switch opts.VideoCodec {
	case "":
		opts.VideoCodec = VP8
	case VP8, H264, VP9, AnyCodec, CommonCodec:
	default:
		return nil, fmt.Errorf("%w: video codec %q", ErrInvalidOption, opts.VideoCodec)
	}
	switch opts.ArchiveMode {
	case "":
		opts.ArchiveMode = ArchiveModeManual
	case ArchiveModeManual, ArchiveModeAlways:
	default:
		return nil, fmt.Errorf("%w: archive mode %q", ErrInvalidOption, opts.ArchiveMode)
	}
	if opts.ArchiveMode == ArchiveModeAlways && opts.MediaMode == Relayed {
		return nil, fmt.Errorf("%w: archive mode always needs a routed session", ErrInvalidOption)
	}
	if opts.ArchiveName != "" && opts.ArchiveMode != ArchiveModeAlways || len([]rune(opts.ArchiveName)) > MaxArchiveName {
		return nil, fmt.Errorf("%w: archive name %q (archive mode always only, at most %d characters)", ErrInvalidOption, opts.ArchiveName, MaxArchiveName)
	}
	if opts.E2EE && (opts.MediaMode != Routed || opts.VideoCodec == H264 || opts.ArchiveMode == ArchiveModeAlways) {
		return nil, fmt.Errorf("%w: e2ee needs a routed session, not of H264, not always archived", ErrInvalidOption)
	}
	if opts.Location != "" && net.ParseIP(opts.Location) == nil {
		return nil, fmt.Errorf("%w: location %q is not an IP address", ErrInvalidOption, opts.Location)
	}
	now := srv.cfg.Clock.Now()
	info := SessionInfo{
		ID:           newSessionID(srv.cfg.APIKey, opts.Location, now),
		MediaMode:    opts.MediaMode,
		VideoCodec:   opts.VideoCodec,
		Location:     opts.Location,
		Metadata:     maps.Clone(opts.Metadata),
		CreationTime: now,
		ArchiveMode:  opts.ArchiveMode,
		ArchiveName:  opts.ArchiveName,
		E2EE:         opts.E2EE,
	}
	if err := srv.store.PutSession(ctx, info); err != nil {
		return nil, fmt.Errorf("crossbar: store session: %w", err)
	}
	return srv.live(info)
}

// Session returns the session with the given id.
func (srv *Server) Session(ctx context.Context, id string) (*Session, error) {
	srv.mu.Lock()
	s, ok := srv.sessions[id]
	srv.mu.Unlock()
	if ok {
		return s.await(ctx)
	}
	if _, err := parseSessionID(id, srv.cfg.APIKey); err != nil {
		return nil, err
	}
	info, err := srv.store.GetSession(ctx, id)
	if err != nil {
		if errors.Is(err, ErrSessionNotFound) {
			return nil, fmt.Errorf("%w: %q", ErrSessionNotFound, id)
		}
		return nil, fmt.Errorf("crossbar: look up session: %w", err)
	}
	return srv.live(info)
}

// Sessions returns every session in the store, oldest first.
func (srv *Server) Sessions(ctx context.Context) ([]*Session, error) {
	infos, err := srv.store.ListSessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("crossbar: list sessions: %w", err)
	}
	list := make([]*Session, 0, len(infos))
	for _, info := range infos {
		s, err := srv.live(info)
		if err != nil {
			return nil, err
		}
		list = append(list, s)
	}
	return list, nil
}

// live returns the process's Session object for info, making it if needed.
func (srv *Server) live(info SessionInfo) (*Session, error) {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		return nil, ErrSessionClosed
	}
	s, ok := srv.sessions[info.ID]
	if ok {
		srv.mu.Unlock()
		return s.await(context.Background())
	}
	s = newSession(srv, info)
	srv.sessions[info.ID] = s
	onNew := srv.onNew
	srv.mu.Unlock()
	defer close(s.ready)
	if onNew != nil {
		onNew(s)
	}
	if srv.bus != nil {
		if err := s.joinCluster(context.Background()); err != nil {
			s.log.Warn("cluster: session joined without the others' state", "err", err)
		}
	}
	return s, nil
}

// forget drops a closed session from the live set.
func (srv *Server) forget(s *Session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.sessions[s.info.ID] == s {
		delete(srv.sessions, s.info.ID)
		if srv.bus != nil {
			s.onBus("leave", func(ctx context.Context) error { return srv.bus.Unsubscribe(ctx, s.topic()) }, nil)
		}
	}
}

// GenerateToken returns a token that lets a client connect to the session
// with the given options. Options out of range are errors, not clamped.
func (srv *Server) GenerateToken(sessionID string, opts TokenOptions) (string, error) {
	if _, err := parseSessionID(sessionID, srv.cfg.APIKey); err != nil {
		return "", err
	}
	return generateToken(srv.cfg.APIKey, srv.cfg.APISecret, sessionID, opts, srv.cfg.Clock.Now())
}

// VerifyToken checks a token as a connecting client's is checked, but for
// the session: signature, claims, expiry and revocation.
func (srv *Server) VerifyToken(ctx context.Context, token string) (*TokenInfo, error) {
	info, err := verifyToken(srv.cfg.APIKey, srv.cfg.APISecret, token, srv.cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	if err := srv.checkRevoked(ctx, info.ID); err != nil {
		return nil, err
	}
	return info, nil
}

func (srv *Server) checkRevoked(ctx context.Context, tokenID string) error {
	revoked, err := srv.store.IsRevoked(ctx, tokenID)
	if errors.Is(err, cluster.ErrUnavailable) {
		return fmt.Errorf("%w: check revocation: %w", ErrClusterUnavailable, err)
	}
	if err != nil {
		return fmt.Errorf("crossbar: check revocation: %w", err)
	}
	if revoked {
		return ErrTokenRevoked
	}
	return nil
}

// RevokeToken revokes a token by its id (see TokenID and
// Connection.TokenID): it can no longer connect or act, and every connection
// that used it ends with reason tokenRevoked.
func (srv *Server) RevokeToken(ctx context.Context, tokenID string) error {
	if err := srv.store.RevokeToken(ctx, tokenID, srv.cfg.Clock.Now().Add(MaxTokenTTL)); err != nil {
		return fmt.Errorf("crossbar: revoke token: %w", err)
	}
	srv.endRevoked(tokenID)
	if srv.bus != nil {
		b, err := json.Marshal(nodeMessage{V: clusterVersion, From: srv.bus.Node().ID, Kind: kindRevoked, TokenID: tokenID})
		if err == nil {
			err = srv.bus.Publish(ctx, revocationsTopic, b)
		}
		if err != nil {
			return fmt.Errorf("crossbar: revoked, but other nodes may keep its connections until they act: %w", err)
		}
	}
	return nil
}

// endRevoked ends this node's connections that used a revoked token.
func (srv *Server) endRevoked(tokenID string) {
	srv.mu.Lock()
	live := slices.Collect(maps.Values(srv.sessions))
	srv.mu.Unlock()
	for _, s := range live {
		s.mu.Lock()
		for _, c := range s.connectionsLocked() {
			if c.token.ID == tokenID && !c.remote() {
				s.removeLocked(c, ReasonTokenRevoked)
			}
		}
		s.unlock()
	}
}

// Shutdown drains the server, as for a rolling deploy: it refuses new
// clients (the WebSocket handler with HTTP 503, other transports with
// ErrNodeDraining), asks each of its clients to move to another node of
// the cluster, and waits until they have all moved and their media comes
// from there (a few seconds), keeping it flowing from here meanwhile, or
// until ctx ends; then it closes the server (Close).
// Their connections, streams and subscriptions keep their ids on the
// other nodes. Without a cluster there is nowhere to move: Shutdown is
// Close. It returns ctx's error if some clients had not moved.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.draining = true
	live := slices.Collect(maps.Values(srv.sessions))
	srv.mu.Unlock()
	var err error
	if srv.bus != nil {
		for _, s := range live {
			s.askToMove()
		}
		err = srv.awaitMoves(ctx, live)
	}
	return errors.Join(err, srv.Close())
}

// isDraining reports whether Shutdown has started.
func (srv *Server) isDraining() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.draining
}

// moveCheck is how often Shutdown looks whether its clients have moved.
const moveCheck = 50 * time.Millisecond

// awaitMoves waits until no session has a client connection here, or ctx
// ends.
func (srv *Server) awaitMoves(ctx context.Context, live []*Session) error {
	tick := time.NewTicker(moveCheck)
	defer tick.Stop()
	for {
		left := 0
		for _, s := range live {
			left += s.clientsHere()
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("crossbar: shutdown: %d clients had not moved: %w", left, ctx.Err())
		case <-tick.C:
		}
	}
}

// Close ends every connection this process serves (reason
// networkDisconnected, so clients may reconnect elsewhere) and refuses new
// ones. Session records stay in the store. Archives stop; Close waits
// for composed ones to be composed.
func (srv *Server) Close() error {
	srv.mu.Lock()
	srv.closed = true
	live := slices.Collect(maps.Values(srv.sessions))
	srv.sessions = map[string]*Session{}
	srv.mu.Unlock()
	for _, s := range live {
		s.mu.Lock()
		s.closed = true
		s.stopSpeakersLocked()
		s.stopArchivesLocked()
		s.stopBroadcastsLocked()
		for _, c := range s.connectionsLocked() {
			s.removeLocked(c, ReasonNetworkDisconnected)
		}
		s.unlock()
	}
	if srv.bus != nil {
		for _, node := range srv.linkedNodes() {
			srv.dropLinks(node)
		}
	}
	srv.hooks.close()
	srv.archives.composing.Wait()
	return errors.Join(srv.engine.Close(), srv.turn.close())
}

// newSessionID makes an id of OpenTok's shape: "1_" and the URL-safe base64
// of "1~<apiKey>~<location>~<createTimeMs>~<random>", with 128 random bits.
func newSessionID(apiKey, location string, now time.Time) string {
	var r [16]byte
	rand.Read(r[:])
	raw := strings.Join([]string{"1", apiKey, location, strconv.FormatInt(now.UnixMilli(), 10), base64.RawURLEncoding.EncodeToString(r[:])}, "~")
	return "1_" + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parseSessionID checks that id has OpenTok's shape and names apiKey, and
// returns its decoded fields.
func parseSessionID(id, apiKey string) ([]string, error) {
	if len(id) > 255 || !(strings.HasPrefix(id, "1_") || strings.HasPrefix(id, "2_")) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidSessionID, id)
	}
	// OpenTok's decoders accept padded and unpadded, standard and URL-safe.
	body := strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(id[2:], "="))
	raw, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidSessionID, id, err)
	}
	parts := strings.Split(string(raw), "~")
	if len(parts) < 5 {
		return nil, fmt.Errorf("%w: %q has %d fields, want 5", ErrInvalidSessionID, id, len(parts))
	}
	if parts[1] != apiKey {
		return nil, fmt.Errorf("%w: %q belongs to API key %q", ErrInvalidSessionID, id, parts[1])
	}
	return parts, nil
}

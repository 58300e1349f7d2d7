// @ts-check
// The Session: a connection to one Crossbar session, its model, and the
// media it publishes and subscribes to.

import { decodableCodecs, preferCodec, svcModes } from './codecs.js';
import { Collection } from './collection.js';
import { checkSecret, Encryption } from './e2ee.js';
import { OTError, fromServer, invalidParameter, notConnected, withCallback } from './errors.js';
import { Event, EventEmitter } from './events.js';
import { log } from './log.js';
import { Connection, Stream } from './model.js';
import { opusParams, tuneOpus } from './opus.js';
import { addTracks, answerOffer, PeerLink } from './peer.js';
import { Publisher } from './publisher.js';
import { IceWatch } from './restart.js';
import { Signaling, signalingURL, sleep, webSocketTo } from './signaling.js';
import { Subscriber } from './subscriber.js';

const SIGNAL_TYPE = /^[A-Za-z0-9\-_~]{0,128}$/;

// splitArgs sorts OpenTok's optional (target, properties, callback)
// arguments.
export function splitArgs(args) {
  const out = { target: undefined, props: {}, cb: undefined };
  const rest = [...args];
  if (typeof rest[rest.length - 1] === 'function') out.cb = rest.pop();
  if (rest.length && rest[rest.length - 1] && typeof rest[rest.length - 1] === 'object' && !(rest[rest.length - 1] instanceof HTMLElement)) {
    out.props = rest.pop();
  }
  out.target = rest[0];
  return out;
}

const PUBLISH_TIMEOUT = 20000;

// checkIceConfig returns iceConfig (OpenTok's {includeServers,
// transportPolicy, customServers}) or throws OT_INVALID_PARAMETER.
function checkIceConfig(iceConfig) {
  const c = iceConfig;
  const bad = (why) => invalidParameter(`iceConfig: ${why}`);
  if (!c || typeof c !== 'object') throw bad('not an object');
  if (c.includeServers !== undefined && !['all', 'custom'].includes(c.includeServers)) throw bad(`includeServers ${c.includeServers}`);
  if (c.transportPolicy !== undefined && !['all', 'relay'].includes(c.transportPolicy)) throw bad(`transportPolicy ${c.transportPolicy}`);
  const servers = c.customServers === undefined ? [] : c.customServers;
  if (!Array.isArray(servers) || servers.some((s) => !s || !(typeof s.urls === 'string' || Array.isArray(s.urls)))) {
    throw bad('customServers is not a list of {urls, username?, credential?}');
  }
  return c;
}

/** Session is a connection to one Crossbar session. */
export class Session extends EventEmitter {
  #sig = null;
  #iceServers = [];
  /** @type {OT.IceConfig|undefined} the iceConfig option, or setIceConfig's */
  #iceConfig;
  #relayed = false; // media goes peer to peer: see PROTOCOL.md, "Media in relayed sessions"
  #pub = null; // PeerLink of published streams (routed)
  #sub = null; // PeerLink of subscribed streams (routed)
  /** @type {PeerLink[]} the PeerLinks with the node the connection moved from, until the new ones connect */
  #retiring = [];
  #unanswered = null; // a subscriber answer whose link was lost before the reply
  #relays = new Map(); // stream id -> PeerLink from its publisher (relayed)
  #remote = new Map(); // stream id -> remote MediaStream
  #subscribed = new Map(); // stream id -> Subscriber
  #subscribing = new Set(); // stream ids whose subscribe has no reply yet
  #publishing = new Set(); // Publishers whose stream is published or being published
  #ending = new Map(); // stream id -> fails the publish of a stream not yet created
  /** @type {Encryption|null} with the encryptionSecret option */
  #e2ee = null;
  /** @type {string|undefined} the codec the server told publishers to send, if it chose */
  #videoCodec;
  /** @type {Promise<string[]>} svcModes of the session's video codec */
  #svcModes = Promise.resolve([]);

  constructor(apiKey, sessionId, options) {
    super();
    this.apiKey = apiKey;
    this.sessionId = sessionId;
    this.options = options || {};
    if (this.options.iceConfig !== undefined) this.#iceConfig = checkIceConfig(this.options.iceConfig);
    this.connection = undefined;
    this.capabilities = {};
    this.connections = new Collection('connectionId');
    this.streams = new Collection('streamId');
    /** @type {OT.Session['currentState']} */
    this.currentState = 'disconnected';
  }

  isConnected() {
    return this.currentState === 'connected';
  }

  connect(token, cb) {
    return withCallback(this.#connect(token), cb);
  }

  async #connect(token) {
    if (this.currentState !== 'disconnected') throw invalidParameter(`connect: the session is ${this.currentState}`);
    if (typeof token !== 'string' || !token) throw new OTError('OT_AUTHENTICATION_ERROR', 1004, 'connect: no token');
    this.currentState = 'connecting';
    let m;
    try {
      const { transport, encryptionSecret } = this.options;
      if (encryptionSecret !== undefined) {
        checkSecret(encryptionSecret);
        this.#e2ee = new Encryption(encryptionSecret, (id, matched) => this.#secretMatched(id, matched));
      }
      if (transport !== undefined && typeof transport !== 'function') throw invalidParameter('connect: the transport option is not a function');
      const url = transport ? '' : signalingURL(this.options.url);
      this.#sig = new Signaling(transport || webSocketTo(url), url || 'the signaling transport', {
        onMessage: (msg) => this.#onMessage(msg),
        onReconnecting: () => {
          this.currentState = 'reconnecting';
          this.emit(new Event('sessionReconnecting'));
        },
        onReconnected: (resumed, quiet) => {
          this.currentState = 'connected';
          if (!quiet) this.emit(new Event('sessionReconnected'));
          if (resumed.moved) {
            this.#moved(resumed);
            return;
          }
          if (this.#unanswered) this.#sendAnswer(this.#unanswered);
          this.#unanswered = null;
          for (const link of [this.#pub, this.#sub]) if (link) link.watch.now(); // the network may have changed
        },
        onEnd: (reason) => this.#ended(reason),
      });
      m = await this.#sig.connect(token, this.sessionId, this.options.connectionEventsSuppressed, decodableCodecs(!!this.#e2ee), !!this.#e2ee);
    } catch (err) {
      this.currentState = 'disconnected';
      this.#sig = null;
      this.#endEncryption();
      throw err;
    }
    this.currentState = 'connected';
    this.#iceServers = m.iceServers || [];
    this.#relayed = m.mediaMode === 'relayed';
    this.#videoCodec = m.videoCodec;
    this.#svcModes = svcModes(m.videoCodec);
    this.capabilities = { ...m.capabilities, supportsWebRTC: 1 };
    this.connection = new Connection(m.connection);
    const c = this.capabilities;
    this.connection.permissions = { forceDisconnect: c.forceDisconnect, forceUnpublish: c.forceUnpublish, publish: c.publish, subscribe: c.subscribe };
    const own = this.connection.connectionId;
    for (const c of m.connections || [this.connection]) {
      this.connections.add(c.connectionId === own ? this.connection : new Connection(c));
    }
    for (const s of m.streams || []) this.streams.add(new Stream(s, this.#connectionOf(s.connectionId)));
    this.emit(new Event('sessionConnected', { connections: [], streams: [] }));
    if (!this.options.connectionEventsSuppressed) {
      this.connections.forEach((connection) => this.emit(new Event('connectionCreated', { connection })));
    }
    this.streams.forEach((stream) => {
      if (stream.connection.connectionId !== own) this.emit(new Event('streamCreated', { stream }));
    });
    // As opentok.js: joining a session being recorded, one hears so.
    for (const a of m.archives || []) this.emit(new Event('archiveStarted', { id: a.id, name: a.name }));
  }

  disconnect() {
    if (this.#sig) this.#sig.close();
  }

  // setEncryptionSecret changes the secret of end-to-end encryption, for
  // what is sent and received from now on; before connect, it turns the
  // encryption on.
  async setEncryptionSecret(secret) {
    checkSecret(secret);
    this.options = { ...this.options, encryptionSecret: secret };
    if (this.#e2ee) this.#e2ee.setSecret(secret);
  }

  // setIceConfig changes the ICE servers and transport policy of the
  // session's peer connections (OpenTok's configurable TURN): those made
  // from now on, and the current ones from their next ICE restart.
  async setIceConfig(iceConfig) {
    this.#iceConfig = checkIceConfig(iceConfig);
    const links = [this.#pub, this.#sub, ...this.#relays.values(), ...[...this.#publishing].flatMap((p) => [...p.peers.values()])];
    for (const link of links) if (link) link.pc.setConfiguration(this.#rtcConfig());
  }

  // rtcConfig returns the configuration of a new peer connection: the
  // server's ICE servers, with or replaced by iceConfig's custom servers.
  /** @returns {RTCConfiguration} */
  #rtcConfig() {
    const c = this.#iceConfig || {};
    const custom = c.customServers || [];
    const iceServers = c.includeServers === 'custom' ? custom : [...this.#iceServers, ...custom];
    return { iceServers, iceTransportPolicy: c.transportPolicy || 'all' };
  }

  // secretMatched tells a subscriber that its stream's frames started
  // (matched) or stopped opening with the session's secret. Media that
  // does not open has arrived all the same: the subscription stands, as
  // OpenTok's does, until the secrets match.
  #secretMatched(streamId, matched) {
    const sub = this.#subscribed.get(streamId);
    if (!sub) return;
    if (!matched) sub.sealed();
    sub.emit(new Event(matched ? 'encryptionSecretMatch' : 'encryptionSecretMismatch'));
  }

  #endEncryption() {
    if (this.#e2ee) this.#e2ee.close();
    this.#e2ee = null;
  }

  #connectionOf(id) {
    return this.connections.get(id) || new Connection({ connectionId: id });
  }

  #isOwn(stream) {
    return this.connection && stream.connection.connectionId === this.connection.connectionId;
  }

  #onMessage(m) {
    switch (m.type) {
      case 'connectionCreated': {
        const connection = new Connection(m.connection);
        this.connections.add(connection);
        if (!this.options.connectionEventsSuppressed) this.emit(new Event('connectionCreated', { connection }));
        break;
      }
      case 'connectionDestroyed': {
        const connection = this.connections.get(m.connection.connectionId) || new Connection(m.connection);
        this.connections.remove(connection);
        this.#publishing.forEach((p) => p.dropPeer(connection.connectionId));
        for (const [id, link] of this.#relays) if (link.peer === connection.connectionId) this.#closeRelay(id);
        if (!this.options.connectionEventsSuppressed) this.emit(new Event('connectionDestroyed', { connection, reason: m.reason }));
        break;
      }
      case 'streamCreated': {
        if (m.connection && !this.connections.get(m.connection.connectionId)) {
          this.connections.add(new Connection(m.connection)); // a publisher this client was not told of
        }
        const stream = new Stream(m.stream, this.#connectionOf(m.stream.connectionId));
        this.streams.add(stream);
        if (!this.#isOwn(stream)) this.emit(new Event('streamCreated', { stream }));
        else this.#ownStreamCreated(stream);
        break;
      }
      case 'streamDestroyed':
        this.#streamDestroyed(m.stream.streamId, m.reason);
        break;
      case 'streamPropertyChanged':
        this.#propertyChanged(m);
        break;
      case 'signal': {
        const s = m.signal || {};
        const from = s.from ? this.#connectionOf(s.from) : null;
        if (s.type) this.emit(new Event(`signal:${s.type}`, { data: s.data, from }), null, 'signal');
        else this.emit(new Event('signal', { data: s.data, from }));
        break;
      }
      case 'muteForced': {
        // One stream muted: its publisher hears of it. Everyone muted (or
        // allowed to unmute): the session does.
        const p = m.streamId && [...this.#publishing].find((x) => x.streamId === m.streamId);
        if (p) p.forcedMute();
        else if (!m.streamId) this.emit(new Event('muteForced', { active: m.active !== false }));
        break;
      }
      case 'archiveStarted':
      case 'archiveStopped':
        if (m.archive) this.emit(new Event(m.type, { id: m.archive.id, name: m.archive.name }));
        break;
      case 'subscriberOffer':
        this.#answer(m.sdp, m.negotiation);
        break;
      case 'peerSubscribed':
        this.#peerSubscribed(m);
        break;
      case 'peerUnsubscribed': {
        const p = this.getPublisherForStream(m.streamId);
        if (p) p.dropPeer(m.connectionId);
        break;
      }
      case 'relay':
        this.#relay(m);
        break;
      case 'videoDisabled':
      case 'videoEnabled': {
        const sub = this.#subscribed.get(m.streamId);
        if (sub && m.reason === 'quality') sub.qualityChanged(m.type === 'videoDisabled');
        break;
      }
      case 'caption': {
        const sub = this.#subscribed.get(m.streamId);
        if (sub && m.caption && sub.isSubscribedToCaptions()) sub.captionReceived(m.caption);
        break;
      }
      case 'subscriptionFailed': {
        const sub = this.#subscribed.get(m.streamId);
        if (!sub) break;
        this.#subscribed.delete(m.streamId); // the server ended it: no unsubscribe
        this.#remote.delete(m.streamId);
        sub.fail(fromServer(m.error));
        break;
      }
      case 'pathLost':
        // The server hears nothing from this client: its network changed,
        // for both peer connections, before the browser noticed.
        for (const link of [this.#pub, this.#sub]) if (link && link.watch) link.watch.lose();
        break;
      case 'layers': {
        const p = [...this.#publishing].find((x) => x.streamId === m.streamId);
        if (p) p.setLayers(m.layers || []);
        break;
      }
      default:
        log.debug('ignored message', m.type);
    }
  }

  #ownStreamCreated(stream) {
    const p = [...this.#publishing].find((x) => x.streamId === stream.streamId);
    if (p && !p.stream) p.published(stream);
  }

  #streamDestroyed(id, reason) {
    const stream = this.streams.get(id);
    if (!stream) {
      // The server ends an own stream whose media never came.
      this.#ending.get(id)?.(new OTError('OT_ICE_WORKFLOW_FAILED', 1553, `publish: the server ended the stream (${reason})`));
      return;
    }
    this.streams.remove(stream);
    if (this.#isOwn(stream)) {
      const p = [...this.#publishing].find((x) => x.streamId === id);
      if (!p) return;
      this.#publishing.delete(p);
      const transceivers = p.transceivers;
      p.unpublished(reason);
      this.#release(transceivers);
      return;
    }
    this.emit(new Event('streamDestroyed', { stream, reason }, true), () => {
      this.getSubscribersForStream(stream).forEach((s) => s.destroy(reason));
    });
    this.#remote.delete(id);
    this.#closeRelay(id);
  }

  #propertyChanged(m) {
    const stream = this.streams.get(m.stream.streamId);
    if (!stream) return;
    const wasVideo = stream.hasVideo;
    const sub = this.#subscribed.get(stream.streamId);
    const subVideo = sub && sub.stream.hasVideo && sub.properties.subscribeToVideo !== false;
    stream.update(m.stream);
    const c = m.change || {};
    this.emit(new Event('streamPropertyChanged', { stream, changedProperty: c.changedProperty, oldValue: c.oldValue, newValue: c.newValue }));
    if (sub && c.changedProperty === 'hasVideo' && wasVideo !== stream.hasVideo) sub.videoChanged('publishVideo', subVideo);
    if (this.#isOwn(stream) && c.changedProperty === 'hasAudio' && c.newValue === false) {
      const p = [...this.#publishing].find((x) => x.streamId === stream.streamId);
      if (p) p.forcedMute();
    }
  }

  // moved follows the connection to the node that took it over
  // (PROTOCOL.md, "Moving to another node"): the session's view becomes the
  // state that resumed, its "connected", carries, and in a routed session
  // the media goes through new peer connections with that node.
  #moved(resumed) {
    this.#iceServers = resumed.iceServers || this.#iceServers; // the new node's
    const own = this.connection.connectionId;
    const connections = new Map((resumed.connections || []).map((c) => [c.connectionId, c]));
    const streams = new Map((resumed.streams || []).map((s) => [s.streamId, s]));
    const reason = 'networkDisconnected';
    this.streams.forEach((s) => streams.has(s.streamId) || this.#streamDestroyed(s.streamId, reason));
    this.connections.forEach((c) => {
      if (c.connectionId !== own && !connections.has(c.connectionId)) this.#onMessage({ type: 'connectionDestroyed', connection: c, reason });
    });
    connections.forEach((c) => this.connections.has(c.connectionId) || this.#onMessage({ type: 'connectionCreated', connection: c }));
    streams.forEach((s) => {
      const known = this.streams.get(s.streamId);
      if (known) this.#changed(known, s);
      else this.#onMessage({ type: 'streamCreated', stream: s });
    });
    if (!this.#relayed) this.#rebuild();
  }

  // changed reports the properties of stream that s, its description in a
  // moved connection's state, changes.
  #changed(stream, s) {
    const same = (a, b) => a === b || (a && b && a.width === b.width && a.height === b.height);
    for (const prop of ['hasAudio', 'hasVideo', 'videoDimensions', 'hasCaptions']) {
      const oldValue = stream[prop];
      const newValue = prop === 'videoDimensions' ? s.videoDimensions : Boolean(s[prop]);
      if (same(oldValue, newValue)) continue;
      const change = { changedProperty: prop, oldValue, newValue };
      this.#propertyChanged({ stream: { ...stream, [prop]: newValue }, change });
    }
  }

  // rebuild makes new peer connections with the node the connection moved
  // to: each stream is published again under its id, each subscription
  // made again with its options. The old connections close once the new
  // ones are connected (a draining node forwards until then), or at once
  // when they failed.
  #rebuild() {
    this.#unanswered = null; // the old subscriber PC's
    this.#retiring.splice(0).forEach((l) => l.close()); // from the move before
    const [pub, sub] = [this.#pub, this.#sub];
    this.#pub = this.#sub = null;
    const publishers = [...this.#publishing].filter((p) => p.streamId);
    const next = publishers.length ? this.#publisherLink() : null;
    const published = publishers.map((p) => {
      const id = p.streamId;
      return this.#negotiatePublish(p, id).catch((err) => log.warn(`cannot publish stream ${id} again:`, err.message));
    });
    if (pub) this.#retire(pub, next, published);
    // The streams go first: a moved stream ends if its tracks do not come
    // back in time, and the subscriptions wait for other clients' anyway.
    const subs = [...this.#subscribed.values()].filter((x) => !this.#subscribing.has(x.stream.streamId));
    const link = subs.length ? this.#subscriberLink() : null;
    const subscribed = Promise.all(published).then(() => Promise.all(subs.map((x) => this.#resubscribe(x))));
    if (sub) {
      const lost = sub.watch.lost;
      this.#retire(sub, link, [subscribed]).then((back) => {
        if (lost && back) this.#subscribed.forEach((x) => x.emit(new Event('connected')));
      });
    }
  }

  // resubscribe subscribes sub again after a move. Its stream may be
  // moving too, from a node that died or drains, and not be found on the
  // new node for a moment (1535): it tries again, for as long as a moved
  // stream waits for its tracks, while the stream is in the session.
  async #resubscribe(sub) {
    const id = sub.stream.streamId;
    for (let wait = 250; this.#subscribed.get(id) === sub; wait *= 2) {
      try {
        await this.#request(this.#subscribeMessage(sub));
        return;
      } catch (err) {
        if (err.code !== 1535 || wait > 4000 || !this.streams.has(id)) {
          log.warn(`cannot subscribe to ${id} again:`, err.message);
          return;
        }
      }
      await sleep(wait);
    }
  }

  // retire closes old, a peer connection with the node the connection
  // moved from, once next, its replacement, is connected and the requests
  // that give it its media (promises, which do not reject) are answered;
  // then it resolves true. It closes old at once when there is no next or
  // old failed.
  #retire(old, next, promises) {
    old.watch.close();
    this.#retiring.push(old);
    let answered = false;
    return new Promise((resolve) => {
      const check = () => {
        if (!this.#retiring.includes(old)) return; // closed already
        const connected = next && answered && next.pc.connectionState === 'connected';
        if (next && !connected && old.pc.connectionState !== 'failed') return;
        if (next) next.pc.removeEventListener('connectionstatechange', check);
        this.#retiring = this.#retiring.filter((l) => l !== old);
        old.close();
        resolve(connected);
      };
      if (next) next.pc.addEventListener('connectionstatechange', check);
      old.pc.addEventListener('connectionstatechange', check);
      Promise.all(promises).then(() => {
        answered = true;
        check();
      });
      check();
    });
  }

  #ended(reason) {
    this.currentState = 'disconnected';
    this.#sig = null;
    this.#endEncryption();
    for (const p of [...this.#publishing]) {
      this.#publishing.delete(p);
      if (p.streamId) p.unpublished(reason);
    }
    for (const link of [this.#pub, this.#sub, ...this.#retiring.splice(0)]) if (link) link.close();
    this.#pub = this.#sub = null;
    [...this.#relays.keys()].forEach((id) => this.#closeRelay(id));
    this.#remote.clear();
    const subs = [...this.#subscribed.values()];
    this.streams.clear();
    this.connections.clear();
    this.emit(new Event('sessionDisconnected', { reason }, true), () => subs.forEach((s) => s.destroy(reason)));
  }

  // ------------------------------------------------------------ publish

  publish(...args) {
    let publisher = args[0];
    let cb = args.find((a) => typeof a === 'function');
    if (!(publisher instanceof Publisher)) {
      const a = splitArgs(args);
      publisher = new Publisher(a.target, a.props);
      cb = a.cb;
    }
    withCallback(this.#publish(publisher), cb).catch((err) => {
      if (!cb) log.error('publish failed:', err.message);
    });
    return publisher;
  }

  async #publish(p) {
    if (!this.isConnected()) throw notConnected('publish');
    if (this.capabilities.publish === 0) {
      throw new OTError('OT_PERMISSION_DENIED', 1500, 'publish: this token does not allow publishing');
    }
    if (this.#publishing.has(p)) throw invalidParameter('publish: the publisher is already published');
    this.#publishing.add(p);
    p.session = this;
    try {
      await p.ready;
      const id = await this.#negotiatePublish(p);
      p.streamId = id;
      const known = this.streams.get(id);
      if (known && !p.stream) p.published(known);
      await this.#waitPublished(p);
    } catch (err) {
      this.#publishing.delete(p);
      if (p.streamId) this.#unpublishFailed(p);
      p.session = undefined;
      p.streamId = undefined;
      throw err;
    }
  }

  // unpublishFailed ends a publish that failed after the server took it:
  // the server forgets the stream if it has not already, and the
  // publisher's transceivers are stopped.
  #unpublishFailed(p) {
    this.#request({ type: 'unpublish', streamId: p.streamId }).catch(() => {});
    const transceivers = p.transceivers;
    p.transceivers = [];
    this.#release(transceivers);
  }

  // waitPublished resolves when the server announces p's stream, and fails
  // when the server ends it first or nothing comes in PUBLISH_TIMEOUT.
  #waitPublished(p) {
    if (p.stream) return Promise.resolve();
    const id = p.streamId;
    return new Promise((resolve, reject) => {
      const end = (err) => {
        clearTimeout(timer);
        p.off('streamCreated', done);
        this.#ending.delete(id);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => end(new OTError('OT_ICE_WORKFLOW_FAILED', 1553, 'publish: no media reached the server')), PUBLISH_TIMEOUT);
      const done = () => end();
      p.once('streamCreated', done);
      this.#ending.set(id, end);
    });
  }

  // publisherLink returns the publisher PC, making it on first use. Its
  // first m-section is a data channel that lives as long as the PC: when
  // every stream is unpublished and their transceivers stopped, it keeps
  // the BUNDLE transport, which the next stream then reuses.
  #publisherLink() {
    if (this.#pub) return this.#pub;
    const link = this.#serverLink('publisher', () => this.#pub === link);
    link.pc.createDataChannel('crossbar');
    link.serially(() => this.#offer(link)).catch((err) => log.error('cannot set up the publisher connection:', err.message));
    this.#pub = link;
    link.watch = new IceWatch(link.pc, () => link.serially(() => this.#offer(link, { iceRestart: true })));
    return link;
  }

  // serverLink makes a peer connection with the server, pc being
  // 'publisher' or 'subscriber'; its candidates go while current() is
  // true: after a move the old node's do not go to the new one.
  #serverLink(pc, current) {
    return new PeerLink(this.#rtcConfig(), (candidate) => this.#sig && current() && this.#sig.send({ type: 'candidate', pc, candidate }));
  }

  // offer renegotiates the publisher PC with an "offer" request; with
  // {iceRestart: true}, on new ICE credentials, whose candidates wait for
  // the offer.
  async #offer(link, options = {}) {
    link.hold();
    await link.pc.setLocalDescription(await link.pc.createOffer(options));
    if (link !== this.#pub) return; // the connection moved on: the new node has its own
    const r = this.#request({ type: 'offer', sdp: link.pc.localDescription.sdp });
    link.described();
    await link.pc.setRemoteDescription({ type: 'answer', sdp: this.#tuned((await r).sdp) });
  }

  // tuned returns an answer of the server's to the publisher PC with the
  // Opus settings of each publisher (opusParams) on its audio; extra holds
  // the publishers being published, with their new transceivers.
  #tuned(sdp, extra = []) {
    const byMid = new Map();
    for (const [p, ts] of [...[...this.#publishing].map((p) => [p, p.transceivers]), ...extra]) {
      for (const t of ts) if (t.mid && t.receiver.track.kind === 'audio') byMid.set(t.mid, opusParams(p.properties));
    }
    return tuneOpus(sdp, (mid) => byMid.get(mid));
  }

  // negotiatePublish publishes p's tracks, under streamId if given (again,
  // after a move), and returns the stream id.
  async #negotiatePublish(p, streamId = undefined) {
    if (this.#relayed) {
      // Media goes to each subscriber when it subscribes (peerSubscribed).
      p.relayed = true;
      return (await this.#request({ type: 'publish', stream: p.describe() })).streamId;
    }
    const link = this.#publisherLink();
    const modes = await this.#svcModes;
    return link.serially(async () => {
      const pc = link.pc;
      const transceivers = this.#addTracks(pc, p, true, modes);
      try {
        await pc.setLocalDescription(await pc.createOffer());
        if (link !== this.#pub) throw new OTError('OT_NOT_CONNECTED', 1010, 'publish: the connection moved to another server');
        const tracks = transceivers.map((t) => ({ mid: t.mid, kind: t.sender.track.kind }));
        const reply = this.#request({ type: 'publish', streamId, sdp: pc.localDescription.sdp, stream: p.describe(), tracks });
        link.described();
        const r = await reply;
        await pc.setRemoteDescription({ type: 'answer', sdp: this.#tuned(r.sdp, [[p, transceivers]]) });
        p.transceivers = transceivers;
        return r.streamId;
      } catch (err) {
        if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
        transceivers.forEach((t) => t.stop());
        throw err;
      }
    });
  }

  // addTracks is addTracks, the tracks sealed with the session's
  // encryption if it has one.
  #addTracks(pc, p, routed, modes = []) {
    const transceivers = addTracks(pc, p, routed, modes);
    if (this.#e2ee) this.#e2ee.seal(transceivers);
    if (routed) preferCodec(transceivers, this.#videoCodec);
    return transceivers;
  }

  // peerSubscribed opens a relayed peer connection from one of our
  // streams to a new subscriber, and offers it the stream's tracks.
  #peerSubscribed({ connectionId, streamId }) {
    const p = this.getPublisherForStream(streamId);
    if (!p || p.peers.has(connectionId)) return;
    const link = this.#relayLink(streamId, connectionId);
    p.peers.set(connectionId, link);
    this.#addTracks(link.pc, p);
    link
      .serially(async () => {
        await link.pc.setLocalDescription(await link.pc.createOffer());
        link.relay({ sdp: link.pc.localDescription.sdp });
        link.described();
      })
      .catch((err) => log.error(`cannot offer stream ${streamId} to ${connectionId}:`, err.message));
  }

  // relayLink makes a peer connection with the other end of a relayed
  // stream; link.relay(fields) sends it a "relay" message.
  #relayLink(streamId, connectionId) {
    const relay = (fields) => this.#sig && this.#sig.send({ type: 'relay', connectionId, streamId, ...fields });
    const link = new PeerLink(this.#rtcConfig(), (candidate) => relay({ candidate }));
    link.peer = connectionId;
    link.relay = relay;
    return link;
  }

  // relay applies what the other end of a relayed peer connection sent: a
  // subscriber's answer or candidate for one of our streams, or a
  // publisher's offer or candidate for a stream we subscribe to.
  #relay({ connectionId, streamId, sdp, candidate }) {
    const p = this.getPublisherForStream(streamId);
    let link = p ? p.peers.get(connectionId) : this.#relays.get(streamId);
    if (!link && !p && sdp && this.#subscribed.has(streamId)) link = this.#subscriberRelay(streamId, connectionId);
    if (!link || link.peer !== connectionId) return;
    link
      .serially(async () => {
        if (candidate) return link.pc.addIceCandidate(candidate);
        if (p) return link.pc.setRemoteDescription({ type: 'answer', sdp: tuneOpus(sdp, () => opusParams(p.properties)) });
        link.relay({ sdp: await answerOffer(link.pc, sdp) });
        link.described();
      })
      .catch((err) => log.warn(`relayed negotiation of stream ${streamId} failed:`, err.message));
  }

  // subscriberRelay makes the peer connection on which the publisher of a
  // stream we subscribe to sends it. The stream's tracks are gathered in
  // one MediaStream, whatever streams the publisher put them in.
  #subscriberRelay(streamId, connectionId) {
    const link = this.#relayLink(streamId, connectionId);
    const ms = new MediaStream();
    link.pc.ontrack = (e) => {
      if (this.#e2ee) this.#e2ee.open(e.receiver, streamId);
      const sub = this.#subscribed.get(streamId);
      if (sub) e.track.enabled = sub.properties[e.track.kind === 'audio' ? 'subscribeToAudio' : 'subscribeToVideo'] !== false;
      ms.addTrack(e.track);
      this.#remote.set(streamId, ms);
      if (sub) sub.attach(ms);
    };
    this.#relays.set(streamId, link);
    return link;
  }

  #closeRelay(streamId) {
    const link = this.#relays.get(streamId);
    if (!link) return;
    this.#relays.delete(streamId);
    link.close();
  }

  // release stops the transceivers of an ended stream and tells the
  // server with a new offer.
  #release(transceivers) {
    const link = this.#pub;
    if (!link || !transceivers.length) return;
    link
      .serially(async () => {
        transceivers.forEach((t) => t.stop());
        if (this.isConnected()) await this.#offer(link);
      })
      .catch((err) => log.warn('renegotiation after unpublish failed:', err.message));
  }

  unpublish(publisher) {
    if (!this.#publishing.has(publisher) || !publisher.streamId) return;
    this.#request({ type: 'unpublish', streamId: publisher.streamId }).catch((err) => log.warn('unpublish failed:', err.message));
  }

  // updateStream tells the server that a publisher's audio, video or
  // dimensions changed.
  updateStream(publisher, change) {
    return this.#request({ type: 'streamUpdate', streamId: publisher.streamId, ...change });
  }

  getPublisherForStream(stream) {
    const id = stream && (stream.streamId || stream);
    return [...this.#publishing].find((p) => p.streamId === id);
  }

  // ---------------------------------------------------------- subscribe

  subscribe(stream, ...args) {
    const a = splitArgs(args);
    if (!(stream instanceof Stream)) throw invalidParameter('subscribe: stream is not a Stream');
    const sub = new Subscriber(this, stream, a.target, a.props);
    withCallback(this.#subscribe(sub), a.cb).catch((err) => {
      if (!a.cb) log.error('subscribe failed:', err.message);
    });
    return sub;
  }

  async #subscribe(sub) {
    const id = sub.stream.streamId;
    try {
      if (!this.isConnected()) throw notConnected('subscribe');
      if (this.capabilities.subscribe === 0) {
        throw new OTError('OT_PERMISSION_DENIED', 1501, 'subscribe: this token does not allow subscribing');
      }
      if (this.#subscribed.has(id)) throw invalidParameter(`subscribe: already subscribed to ${id}`);
      this.#subscribed.set(id, sub);
      if (this.#remote.has(id)) sub.attach(this.#remote.get(id));
      this.#subscribing.add(id);
      await this.#request(this.#subscribeMessage(sub)).finally(() => this.#subscribing.delete(id));
      await Promise.race([
        sub.started,
        sub.failed,
        sleep(PUBLISH_TIMEOUT).then(() => {
          throw new OTError('OT_ICE_WORKFLOW_FAILED', 1554, `subscribe: no media arrived for ${id}`);
        }),
      ]);
    } catch (err) {
      sub.destroy();
      throw err;
    }
  }

  // subscribeMessage returns the subscribe request of sub, with its
  // options.
  #subscribeMessage(sub) {
    const p = sub.properties;
    return {
      type: 'subscribe',
      streamId: sub.stream.streamId,
      audio: p.subscribeToAudio !== false,
      video: p.subscribeToVideo !== false,
      captions: p.subscribeToCaptions === true,
      ...sub.preferences(),
    };
  }

  // subscriberLink returns the subscriber PC, making it on first use. Its
  // tracks come in MediaStreams whose ids are their streams'.
  #subscriberLink() {
    if (this.#sub) return this.#sub;
    const link = this.#serverLink('subscriber', () => this.#sub === link);
    link.pc.ontrack = (e) => {
      const ms = e.streams[0];
      if (!ms) return;
      if (this.#e2ee) this.#e2ee.open(e.receiver, ms.id);
      this.#remote.set(ms.id, ms);
      const sub = this.#subscribed.get(ms.id);
      if (!sub) return;
      // After a move, the old node may still send (a drain): the
      // subscriber plays the new tracks once they carry media.
      if (this.#retiring.length && e.track.muted) {
        e.track.addEventListener('unmute', () => this.#subscribed.get(ms.id) === sub && sub.attach(ms), { once: true });
      } else sub.attach(ms);
    };
    const tell = (type) => () => this.#subscribed.forEach((sub) => sub.emit(new Event(type)));
    link.watch = new IceWatch(link.pc, () => this.#request({ type: 'iceRestart', pc: 'subscriber' }), {
      onLost: tell('disconnected'),
      onBack: tell('connected'),
    });
    this.#sub = link;
    return link;
  }

  #answer(sdp, negotiation) {
    const link = this.#subscriberLink();
    link
      .serially(async () => {
        link.hold(); // an offer may restart ICE: new candidates wait for the answer
        const answer = await answerOffer(link.pc, sdp);
        if (link !== this.#sub) return; // the connection moved on: the new node offers anew
        this.#sendAnswer({ type: 'answer', sdp: answer, negotiation });
        link.described();
      })
      .catch((err) => log.error('cannot answer the server:', err.message));
  }

  // sendAnswer sends a subscriber answer. One whose link is lost before the
  // reply goes again once the link is resumed: it may never have arrived,
  // and the server knows it by its number if it did.
  #sendAnswer(m) {
    if (!this.#sig) return;
    this.#request(m).catch((err) => {
      if (err.code === 1010 && this.#sig && this.#sig.state === 'reconnecting') this.#unanswered = m;
      else log.warn('the server did not take an answer:', err.message);
    });
  }

  // receiversOf returns the receivers of a remote MediaStream's tracks.
  receiversOf(ms) {
    const tracks = ms.getTracks();
    const links = [this.#sub, ...this.#retiring, ...this.#relays.values()].filter(Boolean);
    return links.flatMap((l) => l.pc.getReceivers()).filter((r) => tracks.includes(r.track));
  }

  // subscription changes what a subscriber receives, change being
  // {audio: on} or {video: on}. In a relayed session the media keeps
  // coming; the subscriber's tracks are turned off locally.
  subscription(sub, change) {
    const id = sub.stream.streamId;
    if (this.#subscribed.get(id) !== sub || !this.#sig) return;
    if (!this.#relayed) {
      this.#sig.send({ type: 'subscription', streamId: id, ...change });
      return;
    }
    const ms = this.#remote.get(id);
    for (const [kind, on] of Object.entries(change)) {
      if (ms) ms.getTracks().forEach((t) => t.kind === kind && (t.enabled = on));
    }
  }

  // captionsSubscription asks the server for a subscriber's captions, or
  // to stop them.
  async captionsSubscription(sub, on) {
    const id = sub.stream.streamId;
    if (this.#subscribed.get(id) !== sub) throw invalidParameter('subscribeToCaptions: the subscriber is not subscribed');
    await this.#request({ type: 'subscription', streamId: id, captions: on });
  }

  unsubscribe(subscriber) {
    if (subscriber instanceof Subscriber) subscriber.destroy();
  }

  // dropSubscriber ends the subscription of a destroyed subscriber.
  dropSubscriber(sub) {
    const id = sub.stream.streamId;
    if (this.#subscribed.get(id) !== sub) return;
    this.#subscribed.delete(id);
    this.#remote.delete(id);
    this.#closeRelay(id);
    if (this.isConnected() && this.streams.has(id)) {
      this.#request({ type: 'unsubscribe', streamId: id }).catch((err) => log.warn('unsubscribe failed:', err.message));
    }
  }

  getSubscribersForStream(stream) {
    const id = stream && (stream.streamId || stream);
    const sub = this.#subscribed.get(id);
    return sub ? [sub] : [];
  }

  // ---------------------------------------------------------- messages

  #request(m) {
    if (!this.#sig) return Promise.reject(notConnected(m.type));
    return this.#sig.request(m);
  }

  signal(opts, cb) {
    return withCallback(this.#signal(opts || {}), cb);
  }

  async #signal({ type, data, to, retryAfterReconnect }) {
    if (!this.#sig) throw new OTError('OT_NOT_CONNECTED', 500, 'signal: the session is not connected');
    if (type != null && !SIGNAL_TYPE.test(String(type))) {
      throw new OTError('OT_INVALID_PARAMETER', String(type).length > 128 ? 413 : 400, `signal: invalid type "${type}"`);
    }
    if (retryAfterReconnect === false && this.currentState === 'reconnecting') {
      throw new OTError('OT_NOT_CONNECTED', 500, 'signal: the session is reconnecting');
    }
    const signal = { data: data == null ? '' : String(data) };
    if (type) signal.type = String(type);
    if (to) signal.to = to.connectionId || String(to);
    await this.#request({ type: 'signal', signal });
  }

  forceDisconnect(connection, cb) {
    const id = connection && (connection.connectionId || connection);
    return withCallback(this.#moderate({ type: 'forceDisconnect', connectionId: id }), cb);
  }

  forceUnpublish(stream, cb) {
    const id = stream && (stream.streamId || stream);
    return withCallback(this.#moderate({ type: 'forceUnpublish', streamId: id }), cb);
  }

  forceMuteStream(stream) {
    const id = stream && (stream.streamId || stream);
    return this.#moderate({ type: 'forceMuteStream', streamId: id });
  }

  forceMuteAll(excludedStreams) {
    const excluded = (excludedStreams || []).map((s) => s.streamId || s);
    return this.#moderate({ type: 'forceMuteAll', excluded });
  }

  disableForceMute() {
    return this.#moderate({ type: 'disableForceMute' });
  }

  async #moderate(m) {
    if (!this.#sig) throw notConnected(m.type);
    await this.#request(m);
  }
}

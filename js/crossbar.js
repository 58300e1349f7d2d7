/*
 * Crossbar browser client: OpenTok's `OT` API over Crossbar's signaling
 * protocol (signaling/PROTOCOL.md) and WebRTC.
 *
 * Load it with a classic script tag from the path where the host mounted
 * crossbar's handler:
 *
 *     <script src="/crossbar/crossbar.js"></script>
 *
 * The signaling URL is taken from the `url` option of OT.initSession; without
 * it, from this script's own address: ".../crossbar/crossbar.js" means
 * "ws(s)://same-host/crossbar/ws". The `transport` option replaces the
 * WebSocket altogether (see Signaling). The API key given to OT.initSession
 * is ignored: the token says which project it belongs to.
 *
 * Methods that take a completion callback also return a Promise, except
 * OT.initPublisher, Session.publish and Session.subscribe, which return the
 * Publisher or Subscriber as OpenTok's do.
 */
(function () {
  'use strict';

  const VERSION = '1.0.0';
  const scriptSrc = document.currentScript ? document.currentScript.src : '';

  // ---------------------------------------------------------------- errors

  /** OTError is every error the client reports: {name, code, message}. */
  class OTError extends Error {
    constructor(name, code, message) {
      super(message);
      this.name = name;
      this.code = code;
    }
  }

  const ExceptionCodes = {
    JS_EXCEPTION: 2000,
    AUTHENTICATION_ERROR: 1004,
    INVALID_SESSION_ID: 1005,
    CONNECT_FAILED: 1006,
    NOT_CONNECTED: 1010,
    INVALID_PARAMETER: 1011,
    CONNECTION_LIMIT_EXCEEDED: 1027,
    UNABLE_TO_PUBLISH: 1500,
    UNABLE_TO_SUBSCRIBE: 1501,
    UNSUPPORTED_CODEC: 1502,
    UNABLE_TO_FORCE_DISCONNECT: 1520,
    UNABLE_TO_FORCE_UNPUBLISH: 1530,
    STREAM_NOT_FOUND: 1535,
    UNABLE_TO_FORCE_MUTE: 1540,
    PUBLISHER_ICE_WORKFLOW_FAILED: 1553,
    SUBSCRIBER_ICE_WORKFLOW_FAILED: 1554,
    UNEXPECTED_SERVER_RESPONSE: 2001,
  };

  function invalidParameter(message) {
    return new OTError('OT_INVALID_PARAMETER', 1011, message);
  }

  function notConnected(what) {
    return new OTError('OT_NOT_CONNECTED', 1010, `${what}: the session is not connected`);
  }

  // fromServer converts a protocol error object into an OTError.
  function fromServer(e) {
    if (!e) return new OTError('OT_UNEXPECTED_SERVER_RESPONSE', 2001, 'unexpected server response');
    return new OTError(e.name || 'OT_ERROR', e.code, e.message || e.name);
  }

  // withCallback reports the outcome of promise to an OpenTok-style
  // callback, if there is one, and returns the promise.
  function withCallback(promise, cb) {
    if (typeof cb === 'function') {
      promise.then((v) => cb(undefined, v), (err) => cb(err));
    }
    return promise;
  }

  // --------------------------------------------------------------- logging

  let logLevel = 1; // OT.ERROR
  const log = {
    error: (...a) => logLevel >= 1 && console.error('OT:', ...a),
    warn: (...a) => logLevel >= 2 && console.warn('OT:', ...a),
    debug: (...a) => logLevel >= 5 && console.debug('OT:', ...a),
  };

  // ---------------------------------------------------------------- events

  /** Event is the object every handler receives. */
  class Event {
    constructor(type, props, cancelable) {
      Object.assign(this, props);
      this.type = type;
      this.cancelable = Boolean(cancelable);
      this.target = null;
      Object.defineProperty(this, 'prevented', { value: false, writable: true });
    }

    preventDefault() {
      if (this.cancelable) this.prevented = true;
    }

    isDefaultPrevented() {
      return this.prevented;
    }
  }

  /** EventEmitter gives Session, Publisher, Subscriber and OT on/once/off. */
  class EventEmitter {
    #listeners = new Map();

    on(type, handler, context) {
      return this.#add(type, handler, context, false);
    }

    once(type, handler, context) {
      return this.#add(type, handler, context, true);
    }

    off(type, handler, context) {
      if (type && typeof type === 'object') {
        for (const [t, h] of Object.entries(type)) this.off(t, h, handler);
        return this;
      }
      if (type == null) {
        this.#listeners.clear();
        return this;
      }
      for (const t of String(type).split(/\s+/).filter(Boolean)) {
        const list = this.#listeners.get(t);
        if (!list) continue;
        const keep = handler ? list.filter((l) => l.handler !== handler || (context !== undefined && l.context !== context)) : [];
        if (keep.length) this.#listeners.set(t, keep);
        else this.#listeners.delete(t);
      }
      return this;
    }

    addEventListener(type, handler, context) {
      return this.on(type, handler, context);
    }

    removeEventListener(type, handler, context) {
      return this.off(type, handler, context);
    }

    #add(type, handler, context, once) {
      if (type && typeof type === 'object') {
        for (const [t, h] of Object.entries(type)) this.#add(t, h, handler, once);
        return this;
      }
      if (typeof handler !== 'function') throw invalidParameter(`the handler of "${type}" is not a function`);
      for (const t of String(type).split(/\s+/).filter(Boolean)) {
        if (!this.#listeners.has(t)) this.#listeners.set(t, []);
        this.#listeners.get(t).push({ handler, context, once });
      }
      return this;
    }

    // hasListeners reports whether anyone listens for type.
    hasListeners(type) {
      return this.#listeners.has(type);
    }

    // emit dispatches event to the listeners of its type (and of the extra
    // names given), then runs defaultAction unless a handler prevented it.
    emit(event, defaultAction, ...names) {
      event.target = this;
      for (const name of [...names, event.type]) {
        for (const l of [...(this.#listeners.get(name) || [])]) {
          if (l.once) this.#remove(name, l);
          try {
            l.handler.call(l.context === undefined ? this : l.context, event);
          } catch (err) {
            log.error(`a handler of "${name}" threw`, err);
          }
        }
      }
      if (defaultAction && !event.isDefaultPrevented()) defaultAction();
      return event;
    }

    #remove(name, entry) {
      const list = (this.#listeners.get(name) || []).filter((l) => l !== entry);
      if (list.length) this.#listeners.set(name, list);
      else this.#listeners.delete(name);
    }
  }

  // ----------------------------------------------------------- collections

  /** Collection is OpenTok's list of objects with find() and where(). */
  class Collection {
    #items = new Map();
    #key;

    constructor(key) {
      this.#key = key;
    }

    get length() {
      return this.#items.size;
    }

    get(id) {
      return this.#items.get(id);
    }

    has(id) {
      return this.#items.has(id);
    }

    add(item) {
      this.#items.set(item[this.#key], item);
    }

    remove(item) {
      this.#items.delete(typeof item === 'string' ? item : item[this.#key]);
    }

    clear() {
      this.#items.clear();
    }

    forEach(fn, ctx) {
      [...this.#items.values()].forEach(fn, ctx);
    }

    map(fn, ctx) {
      return [...this.#items.values()].map(fn, ctx);
    }

    find(filter) {
      return this.where(filter)[0];
    }

    // where returns the items for which filter, a function or an object of
    // property values, matches; an id string matches that item.
    where(filter) {
      const all = [...this.#items.values()];
      if (filter == null) return all;
      if (typeof filter === 'string') return all.filter((i) => i[this.#key] === filter);
      if (typeof filter === 'function') return all.filter(filter);
      return all.filter((i) => Object.entries(filter).every(([k, v]) => i[k] === v));
    }

    [Symbol.iterator]() {
      return this.#items.values();
    }
  }

  const sessions = new Collection('sessionId');
  const publishers = new Collection('id');
  const subscribers = new Collection('id');

  // ----------------------------------------------------------- model types

  /** Connection is one client's presence in a session. */
  class Connection {
    constructor(c) {
      this.connectionId = c.connectionId;
      this.id = c.connectionId;
      this.creationTime = c.creationTime;
      this.data = c.data || '';
    }
  }

  /** Stream is one published audio/video signal. */
  class Stream {
    constructor(s, connection) {
      this.streamId = s.streamId;
      this.id = s.streamId;
      this.connection = connection;
      this.creationTime = s.creationTime;
      this.name = s.name || '';
      this.update(s);
    }

    update(s) {
      this.hasAudio = Boolean(s.hasAudio);
      this.hasVideo = Boolean(s.hasVideo);
      this.videoType = s.videoType || undefined;
      this.videoDimensions = s.videoDimensions ? { ...s.videoDimensions } : undefined;
    }
  }

  // ------------------------------------------------------------- signaling

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // A browser cannot send WebSocket pings, so the client sends the server a
  // "ping" request every PING_INTERVAL, and takes the link for dead when a
  // reply has not come PING_TIMEOUT later: a half-open link or a partition
  // is noticed within 8 s. The pings also tell a server that hears nothing
  // else from the client that it is there (PROTOCOL.md). An attempt to
  // (re)connect gives up after DIAL_TIMEOUT.
  const PING_INTERVAL = 3000;
  const PING_TIMEOUT = 5000;
  const DIAL_TIMEOUT = 5000;

  // signalingURL returns the WebSocket URL: the given one, or the one beside
  // this script.
  function signalingURL(given) {
    const base = given || (scriptSrc && new URL('ws', scriptSrc).href);
    if (!base) throw invalidParameter('no signaling URL: pass {url} to OT.initSession');
    const u = new URL(base, location.href);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    return u.href;
  }

  const OPEN = 1; // WebSocket.OPEN, the readyState of a link that is open

  // webSocketTo returns the transport of OT.initSession's options that opens
  // a WebSocket to url.
  function webSocketTo(url) {
    return () => new WebSocket(url, 'crossbar.v1');
  }

  /**
   * Signaling runs the protocol on a link: requests and replies, events,
   * and resuming the connection on a new link when one fails. open() returns
   * a new link: a WebSocket, or an object that behaves as one for what
   * Signaling uses (OT.initSession's `transport` option; crossbar.d.ts
   * describes it): readyState, send(text), close(code), and the handlers
   * onopen, onmessage ({data}) and onclose that Signaling sets. close(1000)
   * says goodbye; close() drops the link as a failed network would.
   */
  class Signaling {
    #ws = null; // the current link
    #nextId = 0;
    #pending = new Map();
    #queue = []; // messages sent while reconnecting
    #received = 0; // messages read after the first "connected"
    #token = '';
    #resume = null;
    #state = null; // {m, resolve}: "connected" while more of the session's state comes
    #pinger = 0; // the interval timer of the pings

    // open() returns a new link, named in errors by name. handlers:
    // onMessage(m), onReconnecting(), onReconnected(), onEnd(reason).
    constructor(open, name, handlers) {
      this.open = open;
      this.name = name;
      this.h = handlers;
      this.state = 'new'; // open, reconnecting, ended
    }

    async connect(token, sessionId, suppressed) {
      const m = await this.#dial({ type: 'connect', token, sessionId, connectionEventsSuppressed: !!suppressed || undefined });
      this.#token = token;
      this.#resume = { connectionId: m.connection.connectionId, key: m.connection.resumeKey };
      this.state = 'open';
      return m;
    }

    // request sends m with an id and resolves with the server's "ok".
    request(m) {
      if (this.state === 'ended') return Promise.reject(notConnected(m.type));
      const id = ++this.#nextId;
      return new Promise((resolve, reject) => {
        this.#pending.set(id, { resolve, reject, type: m.type });
        this.send({ ...m, id });
      });
    }

    // send sends m, or queues it while the connection is resuming.
    send(m) {
      if (this.state === 'ended') return;
      const text = JSON.stringify({ v: 1, ...m });
      if (this.state === 'reconnecting' || !this.#ws) this.#queue.push(text);
      else this.#ws.send(text);
    }

    // close leaves the session.
    close() {
      if (this.state === 'ended') return;
      const ws = this.#ws;
      if (ws && ws.readyState === OPEN) {
        ws.send(JSON.stringify({ v: 1, type: 'disconnect' }));
        ws.close(1000);
      }
      this.#end('clientDisconnected');
    }

    #dial(connect) {
      return new Promise((resolve, reject) => {
        let ws;
        try {
          ws = this.open();
        } catch (err) {
          reject(new OTError('OT_CONNECT_FAILED', 1006, `cannot open ${this.name}: ${err.message}`));
          return;
        }
        let settled = false;
        const id = ++this.#nextId;
        const timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          ws.onclose = ws.onmessage = null;
          ws.close();
          reject(new OTError('OT_CONNECT_FAILED', 1006, `no answer from ${this.name} within ${DIAL_TIMEOUT} ms`));
        }, DIAL_TIMEOUT);
        const hello = () => ws.send(JSON.stringify({ v: 1, id, ...connect }));
        if (ws.readyState === OPEN) hello(); // a link may come open
        else ws.onopen = hello;
        ws.onmessage = (e) => {
          settled = true;
          clearTimeout(timer);
          let m;
          try {
            m = JSON.parse(e.data);
          } catch {
            m = {};
          }
          if (m.type === 'connected' && m.connection) {
            this.#attach(ws);
            if (m.more) this.#state = { m, resolve, reject };
            else resolve(m);
          } else {
            ws.onclose = null;
            ws.close();
            reject(m.type === 'error' ? fromServer(m.error) : fromServer());
          }
        };
        ws.onclose = () => {
          clearTimeout(timer);
          if (!settled) reject(new OTError('OT_CONNECT_FAILED', 1006, `cannot connect to ${this.name}`));
        };
      });
    }

    #attach(ws) {
      this.#ws = ws;
      ws.onmessage = (e) => this.#read(e.data);
      ws.onclose = () => {
        if (this.#ws === ws) this.#lost();
      };
      this.#keepAlive(ws);
    }

    // keepAlive pings the server over ws, the current link, every
    // PING_INTERVAL, and drops the link as a failed one when a ping's reply
    // has not come PING_TIMEOUT later.
    #keepAlive(ws) {
      clearInterval(this.#pinger);
      this.#pinger = setInterval(() => {
        if (this.#ws !== ws) return;
        const dead = setTimeout(() => {
          if (this.#ws !== ws) return;
          ws.onclose = ws.onmessage = null;
          ws.close();
          this.#lost();
        }, PING_TIMEOUT);
        this.request({ type: 'ping' })
          .finally(() => clearTimeout(dead))
          .catch(() => {});
      }, PING_INTERVAL);
    }

    #read(data) {
      this.#received++;
      let m;
      try {
        m = JSON.parse(data);
      } catch {
        return;
      }
      if (m.type === 'sessionState' && this.#state) {
        // More of a large session's state: connect completes with the last piece.
        const st = this.#state;
        st.m.connections = (st.m.connections || []).concat(m.connections || []);
        st.m.streams = (st.m.streams || []).concat(m.streams || []);
        if (!m.more) {
          this.#state = null;
          st.resolve(st.m);
        }
        return;
      }
      if (m.re && this.#pending.has(m.re)) {
        const p = this.#pending.get(m.re);
        this.#pending.delete(m.re);
        if (m.type === 'error') p.reject(fromServer(m.error));
        else p.resolve(m);
        return;
      }
      if (m.type === 'sessionDisconnected') {
        this.#end(m.reason || 'networkDisconnected');
        return;
      }
      if (m.type === 'error') {
        if (!m.re) log.warn('server error', m.error);
        return;
      }
      this.h.onMessage(m);
    }

    // lost handles a link that closed without a goodbye: it resumes the
    // connection on a new one, as PROTOCOL.md describes.
    async #lost() {
      this.#ws = null;
      clearInterval(this.#pinger);
      this.#failPending('the connection to the server was lost');
      if (this.#state) {
        this.#state.reject(new OTError('OT_CONNECT_FAILED', 1006, 'the connection was lost while joining'));
        this.#state = null;
      }
      if (this.state !== 'open') return;
      this.state = 'reconnecting';
      this.h.onReconnecting();
      const deadline = Date.now() + 60000;
      for (let wait = 50; Date.now() < deadline; wait = Math.min(2 * wait, 1000)) {
        await sleep(wait);
        if (this.state !== 'reconnecting') return;
        try {
          await this.#dial({ type: 'connect', token: this.#token, resume: { ...this.#resume, received: this.#received } });
        } catch (err) {
          if (err.code === 1006) continue; // server not reachable yet
          break; // the server no longer has the connection
        }
        if (this.state !== 'reconnecting') {
          this.#ws.close(1000);
          return;
        }
        this.state = 'open';
        for (const text of this.#queue.splice(0)) this.#ws.send(text);
        this.h.onReconnected();
        return;
      }
      this.#end('networkDisconnected');
    }

    #failPending(why) {
      for (const p of this.#pending.values()) p.reject(new OTError('OT_NOT_CONNECTED', 1010, `${p.type}: ${why}`));
      this.#pending.clear();
    }

    #end(reason) {
      if (this.state === 'ended') return;
      this.state = 'ended';
      this.#queue = [];
      clearInterval(this.#pinger);
      const ws = this.#ws;
      this.#ws = null;
      if (ws) {
        ws.onclose = null;
        ws.close(1000);
      }
      this.#failPending('the session was disconnected');
      this.h.onEnd(reason);
    }
  }

  // ------------------------------------------------------------------ media

  /**
   * PeerLink is one peer connection: with the server in routed sessions
   * (the publisher PC and the subscriber PC), with another client in relayed
   * ones (one per stream and subscriber). It sends its ICE candidates with
   * sendCandidate once its description has gone to the other end, and runs
   * negotiations one at a time.
   */
  class PeerLink {
    #chain = Promise.resolve();
    #described = false;
    #candidates = [];

    constructor(iceServers, sendCandidate) {
      this.sendCandidate = sendCandidate;
      this.pc = new RTCPeerConnection({ iceServers: iceServers || [] });
      this.pc.onicecandidate = (e) => {
        if (!e.candidate || !e.candidate.candidate) return;
        if (this.#described) sendCandidate(e.candidate.toJSON());
        else this.#candidates.push(e.candidate.toJSON());
      };
    }

    // described notes that the local description was sent.
    described() {
      this.#described = true;
      for (const c of this.#candidates.splice(0)) this.sendCandidate(c);
    }

    // serially runs fn after the negotiations queued before it.
    serially(fn) {
      const p = this.#chain.then(fn);
      this.#chain = p.catch(() => {});
      return p;
    }

    close() {
      this.pc.close();
    }
  }

  // statsOf sums the RTP statistics of some senders or receivers into
  // OpenTok's shape.
  async function statsOf(parts, direction) {
    const bytes = direction === 'out' ? 'bytesSent' : 'bytesReceived';
    const packets = direction === 'out' ? 'packetsSent' : 'packetsReceived';
    const out = { timestamp: Date.now() };
    for (const kind of ['audio', 'video']) out[kind] = { [bytes]: 0, packetsLost: 0, [packets]: 0 };
    out.video.frameRate = 0;
    for (const part of parts) {
      if (!part.track) continue;
      const report = await part.getStats();
      report.forEach((s) => {
        const kind = s.kind || s.mediaType;
        if (!out[kind]) return;
        if (s.type === (direction === 'out' ? 'outbound-rtp' : 'inbound-rtp')) {
          out[kind][bytes] += s[bytes] || 0;
          out[kind][packets] += s[packets] || 0;
          if (direction === 'in') out[kind].packetsLost += s.packetsLost || 0;
          if (kind === 'video') out.video.frameRate = s.framesPerSecond || 0;
          out.timestamp = s.timestamp;
        }
        if (s.type === 'remote-inbound-rtp' && direction === 'out') out[kind].packetsLost += s.packetsLost || 0;
      });
    }
    return out;
  }

  // mergeReports merges RTCStatsReports into one map.
  async function mergeReports(parts) {
    const all = new Map();
    for (const p of parts) (await p.getStats()).forEach((v, k) => all.set(k, v));
    return all;
  }

  // audioLevelOf reads the audio level (0..1) from a stats report.
  // A receiver's level comes from the audio level header extension
  // (RFC 6464) of the packets the server forwards, as the browser exposes it
  // in getSynchronizationSources(); the stats are the fallback.
  async function audioLevelOf(part) {
    if (typeof part.getSynchronizationSources === 'function') {
      const src = part.getSynchronizationSources().find((x) => typeof x.audioLevel === 'number');
      if (src) return src.audioLevel;
    }
    let level = 0;
    (await part.getStats()).forEach((s) => {
      if ((s.type === 'inbound-rtp' || s.type === 'media-source') && s.kind === 'audio' && typeof s.audioLevel === 'number') {
        level = s.audioLevel;
      }
    });
    return level;
  }

  // ----------------------------------------------------------------- widget

  const STYLE = `
.OT_root{position:relative;display:inline-block;overflow:hidden;background:#1f2126;vertical-align:top;box-sizing:border-box;color:#fff}
.OT_root .OT_widget-container{position:absolute;inset:0}
.OT_root .OT_video-element{width:100%;height:100%;object-fit:cover;display:block}
.OT_root.OT_fit-mode-contain .OT_video-element{object-fit:contain}
.OT_root.OT_mirrored .OT_video-element{transform:scaleX(-1)}
.OT_root .OT_name{position:absolute;left:0;right:0;bottom:0;padding:6px 10px;background:linear-gradient(transparent,rgba(0,0,0,.55));font:13px/1.3 system-ui,sans-serif;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.OT_root .OT_name:empty,.OT_root.OT_hide-name .OT_name{display:none}
.OT_root.OT_audio-only .OT_video-element{visibility:hidden}
.OT_root.OT_audio-only .OT_widget-container::before{content:"";position:absolute;left:50%;top:50%;width:30%;aspect-ratio:1;transform:translate(-50%,-60%);border-radius:50%;background:#3b3f47}
.OT_root.OT_loading .OT_widget-container::after{content:"";position:absolute;left:50%;top:50%;width:28px;height:28px;margin:-14px;border:3px solid rgba(255,255,255,.25);border-top-color:#fff;border-radius:50%;animation:OT_spin 1s linear infinite}
.OT_root.OT_audio-blocked .OT_name::after{content:" \\1F507"}
@keyframes OT_spin{to{transform:rotate(360deg)}}
`;

  let styled = false;
  function addStyle() {
    if (styled) return;
    styled = true;
    const el = document.createElement('style');
    el.textContent = STYLE;
    document.head.prepend(el); // first, so that the page's rules win
  }

  function cssSize(v, def) {
    if (v == null) return def;
    return typeof v === 'number' ? `${v}px` : String(v);
  }

  let nextWidget = 0;

  /**
   * Widget is the default UI of a Publisher or Subscriber: an element of
   * class OT_publisher or OT_subscriber (OT_loading until media plays)
   * holding .OT_widget-container > video.OT_video-element and a name label.
   */
  class Widget {
    constructor(kind, target, props, name) {
      this.video = document.createElement('video');
      this.video.className = 'OT_video-element';
      this.video.autoplay = true;
      this.video.playsInline = true;
      this.video.muted = true;
      this.id = `OT_${kind}_${++nextWidget}`;
      if (props.insertDefaultUI === false) return;
      addStyle();
      const el = document.createElement('div');
      el.className = `OT_root OT_${kind} OT_loading OT_fit-mode-${props.fitMode || 'cover'}`;
      el.style.width = cssSize(props.width, '264px');
      el.style.height = cssSize(props.height, '198px');
      const container = document.createElement('div');
      container.className = 'OT_widget-container';
      container.append(this.video);
      this.label = document.createElement('div');
      this.label.className = 'OT_name';
      this.label.textContent = name || '';
      if (props.style && props.style.nameDisplayMode === 'off') el.classList.add('OT_hide-name');
      el.append(container, this.label);
      this.element = el;
      this.#insert(target, props.insertMode || 'replace');
      el.id = el.id || this.id;
    }

    #insert(target, mode) {
      const t = typeof target === 'string' ? document.getElementById(target) : target;
      if (!t) {
        document.body.append(this.element);
        return;
      }
      switch (mode) {
        case 'after':
          t.after(this.element);
          break;
        case 'before':
          t.before(this.element);
          break;
        case 'append':
          t.append(this.element);
          break;
        default:
          this.element.id = t.id;
          t.replaceWith(this.element);
      }
    }

    toggle(cls, on) {
      if (this.element) this.element.classList.toggle(cls, on);
    }

    setName(name) {
      if (this.label) this.label.textContent = name || '';
    }

    remove() {
      this.video.srcObject = null;
      if (this.element) this.element.remove();
    }
  }

  const LEVEL_INTERVAL = 60; // ms between audioLevelUpdated events, as OpenTok's

  // watchAudioLevel emits an emitter's audio level while it has
  // audioLevelUpdated listeners: level() returns it (0..1), or undefined
  // while there is none. It returns the function that stops it.
  function watchAudioLevel(emitter, level) {
    const timer = setInterval(async () => {
      if (!emitter.hasListeners('audioLevelUpdated')) return;
      const audioLevel = await level();
      if (audioLevel !== undefined) emitter.emit(new Event('audioLevelUpdated', { audioLevel }));
    }, LEVEL_INTERVAL);
    return () => clearInterval(timer);
  }

  /**
   * LevelMeter measures a local audio track with Web Audio: the peak of the
   * last 4096 samples (about 85 ms, more than the time between two
   * readings), so a publisher reports levels before it is published, when
   * it has no RTP sender to read them from.
   */
  class LevelMeter {
    #ctx = new AudioContext();
    #analyser;
    #samples;

    constructor(track) {
      this.track = track;
      this.#analyser = new AnalyserNode(this.#ctx, { fftSize: 4096 });
      this.#samples = new Float32Array(this.#analyser.fftSize);
      this.#ctx.createMediaStreamSource(new MediaStream([track])).connect(this.#analyser);
      if (this.#ctx.state !== 'running') this.#ctx.resume().catch(() => {});
    }

    // level returns the track's level (0..1), or undefined while the
    // browser keeps the audio context suspended (no user gesture yet).
    level() {
      if (this.#ctx.state !== 'running') return undefined;
      this.#analyser.getFloatTimeDomainData(this.#samples);
      let peak = 0;
      for (const x of this.#samples) peak = Math.max(peak, Math.abs(x));
      return Math.min(1, peak);
    }

    close() {
      this.#ctx.close().catch(() => {});
    }
  }

  // -------------------------------------------------------------- publisher

  const RESOLUTIONS = ['1920x1080', '1280x960', '1280x720', '640x480', '640x360', '320x240', '320x180'];
  const SCREEN = ['screen', 'window', 'application', 'browser'];

  function mediaError(err, screen) {
    const name = {
      NotAllowedError: 'OT_USER_MEDIA_ACCESS_DENIED',
      NotFoundError: 'OT_NO_DEVICES_FOUND',
      OverconstrainedError: 'OT_CONSTRAINTS_NOT_SATISFIED',
      NotReadableError: 'OT_HARDWARE_UNAVAILABLE',
      NotSupportedError: screen ? 'OT_SCREEN_SHARING_NOT_SUPPORTED' : 'OT_NO_VALID_CONSTRAINTS',
    }[err && err.name] || (screen ? 'OT_UNABLE_TO_CAPTURE_SCREEN' : 'OT_HARDWARE_UNAVAILABLE');
    return new OTError(name, 1500, `cannot get media: ${err && err.message}`);
  }

  // captureOptions resolves OpenTok's media options, those of
  // OT.initPublisher and OT.getUserMedia (audioSource, videoSource,
  // resolution, frameRate, facingMode, maxResolution, the audio processing
  // switches), into what to capture: {screen, display, audio, video}.
  // display holds getDisplayMedia's constraints for a screen share (screen
  // is then true); audio and video hold getUserMedia's constraints, a
  // MediaStreamTrack given as the source, or false for none. A screen share
  // has no microphone unless audioSource or publishAudio: true asks for
  // one, as in OpenTok.
  function captureOptions(p) {
    if ('audio' in p || 'video' in p) {
      throw invalidParameter('expected OpenTok\'s options (audioSource, videoSource, resolution, frameRate...), not MediaStreamConstraints');
    }
    if (p.resolution && !RESOLUTIONS.includes(p.resolution)) throw invalidParameter(`resolution ${p.resolution}`);
    const want = (src) => src !== null && src !== false;
    const screen = SCREEN.includes(p.videoSource);
    const out = { screen, display: null, audio: false, video: false };
    if (screen) {
      const max = p.maxResolution || {};
      out.display = {
        video: { width: { max: max.width || 1920 }, height: { max: max.height || 1080 }, frameRate: p.frameRate || 15 },
        audio: false,
      };
    } else if (p.videoSource instanceof MediaStreamTrack) {
      out.video = p.videoSource;
    } else if (want(p.videoSource)) {
      const [width, height] = (p.resolution || '640x480').split('x').map(Number);
      out.video = { width: { ideal: width }, height: { ideal: height } };
      if (p.frameRate) out.video.frameRate = { ideal: p.frameRate };
      if (typeof p.videoSource === 'string') out.video.deviceId = { exact: p.videoSource };
      if (p.facingMode) out.video.facingMode = p.facingMode;
    }
    const audioSource = screen && p.audioSource === undefined && p.publishAudio !== true ? null : p.audioSource;
    if (audioSource instanceof MediaStreamTrack) {
      out.audio = audioSource;
    } else if (want(audioSource)) {
      out.audio = {};
      if (typeof audioSource === 'string') out.audio.deviceId = { exact: audioSource };
      for (const k of ['echoCancellation', 'noiseSuppression', 'autoGainControl']) {
        if (k in p) out.audio[k] = p[k];
      }
      if (p.disableAudioProcessing) Object.assign(out.audio, { echoCancellation: false, noiseSuppression: false, autoGainControl: false });
    }
    return out;
  }

  // capture gets the tracks captureOptions resolved, audio first. Media
  // errors become OTErrors (code 1500).
  async function capture(c) {
    const tracks = [];
    try {
      if (c.display) tracks.push(...(await navigator.mediaDevices.getDisplayMedia(c.display)).getVideoTracks());
      if (c.video instanceof MediaStreamTrack) tracks.push(c.video);
      if (c.audio instanceof MediaStreamTrack) tracks.unshift(c.audio);
      const audio = c.audio instanceof MediaStreamTrack ? false : c.audio;
      const video = c.video instanceof MediaStreamTrack ? false : c.video;
      if (audio || video) {
        const ms = await navigator.mediaDevices.getUserMedia({ audio, video });
        tracks.unshift(...ms.getAudioTracks());
        tracks.push(...ms.getVideoTracks());
      }
    } catch (err) {
      tracks.forEach((t) => t !== c.audio && t !== c.video && t.stop());
      throw mediaError(err, c.screen);
    }
    if (!tracks.length) throw new OTError('OT_NO_VALID_CONSTRAINTS', 1500, 'neither audio nor video was asked for');
    return tracks;
  }

  /** Publisher is the local camera, screen or custom track, published or not. */
  class Publisher extends EventEmitter {
    #widget;
    #media = null; // MediaStream
    #stopLevels;
    #meter = null; // LevelMeter of the audio track, made when levels are first listened for
    #destroyed = false;
    #destroying = false;

    constructor(target, props) {
      super();
      const capture = captureOptions(props || {});
      // A screen share publishes audio only if asked to (captureOptions).
      this.properties = { publishAudio: !capture.screen || Boolean(capture.audio), publishVideo: true, name: '', ...props };
      const p = this.properties;
      this.screen = capture.screen;
      this.#widget = new Widget('publisher', target, { fitMode: this.screen ? 'contain' : 'cover', ...p }, p.name);
      this.id = this.#widget.id;
      this.element = this.#widget.element;
      const mirror = p.mirror !== undefined ? p.mirror : !this.screen && !(p.videoSource instanceof MediaStreamTrack);
      this.#widget.toggle('OT_mirrored', mirror);
      this.accessAllowed = false;
      this.stream = undefined;
      this.session = undefined;
      this.streamId = undefined; // set by the server's reply to publish
      this.transceivers = []; // on the publisher PC, in routed sessions
      this.peers = new Map(); // connection id -> PeerLink to that subscriber, in relayed sessions
      this.relayed = false;
      this.ready = this.#acquire(capture);
      this.ready.catch(() => {});
      this.#stopLevels = watchAudioLevel(this, () => this.#audioLevel());
      publishers.add(this);
    }

    // audioLevel measures the audio track, published or not; without Web
    // Audio running, the sender's statistics give the level once published.
    async #audioLevel() {
      const track = this.#media && this.#media.getAudioTracks()[0];
      if (!track) return undefined;
      if (this.#meter && this.#meter.track !== track) {
        this.#meter.close();
        this.#meter = null;
      }
      if (!this.#meter && typeof AudioContext === 'function') this.#meter = new LevelMeter(track);
      const level = this.#meter ? this.#meter.level() : undefined;
      if (level !== undefined) return level;
      const sender = this.#senders().find((x) => x.track && x.track.kind === 'audio');
      return sender ? audioLevelOf(sender) : undefined;
    }

    async #acquire(options) {
      const p = this.properties;
      let tracks;
      try {
        tracks = await capture(options);
      } catch (err) {
        const e = err instanceof OTError ? err : mediaError(err, this.screen);
        this.emit(new Event('accessDenied', { message: e.message }));
        throw e;
      }
      if (this.#destroyed) {
        tracks.forEach((t) => t.stop());
        throw new OTError('OT_PUBLISHER_DESTROYED', 1500, 'the publisher was destroyed');
      }
      this.#media = new MediaStream(tracks);
      this.accessAllowed = true;
      this.emit(new Event('accessAllowed'));
      for (const t of this.#media.getAudioTracks()) t.enabled = p.publishAudio !== false;
      for (const t of this.#media.getVideoTracks()) {
        t.enabled = p.publishVideo !== false;
        t.addEventListener('ended', () => this.#mediaStopped(t));
      }
      const v = this.#widget.video;
      v.srcObject = this.#media;
      v.addEventListener('playing', () => this.#widget.toggle('OT_loading', false), { once: true });
      v.addEventListener('resize', () => this.#resized());
      v.play().catch(() => {});
      this.#widget.toggle('OT_audio-only', !this.#media.getVideoTracks().length || p.publishVideo === false);
      if (!this.#media.getVideoTracks().length) this.#widget.toggle('OT_loading', false);
      this.emit(new Event('videoElementCreated', { element: v }));
    }

    // encodings returns the sendEncodings of the video track. Sent to the
    // server (routed), that is simulcast layers, lowest first as the server
    // expects, for a camera unless properties.simulcast is false, or for any
    // video with simulcast true: 1/4, 1/2 and full size (rids q, h, f) from
    // 960x540 up, 1/2 and full size from 480x270 up, as many as Chromium
    // sends for the size (it drops the top layers beyond that); none below.
    // Where the browser can send the mode (svcModes: Chromium in a VP9
    // session), the layers are the spatial layers of one encoding instead
    // (SVC: L3T3_KEY or L2T3_KEY).
    encodings(track, routed, svcModes) {
      const p = this.properties;
      const fps = p.frameRate ? { maxFramerate: p.frameRate } : {};
      const wanted = routed && (p.simulcast === undefined ? this.getVideoSource().type === 'camera' : Boolean(p.simulcast));
      const s = track.getSettings();
      const pixels = (s.width || 640) * (s.height || 480);
      const count = pixels >= 960 * 540 ? 3 : pixels >= 480 * 270 ? 2 : 1;
      if (!wanted || count < 2) return [{ ...fps }];
      const svc = `L${count}T3_KEY`;
      if (svcModes.includes(svc)) return [{ scalabilityMode: svc, ...fps }];
      const layers = [
        { rid: 'q', scaleResolutionDownBy: 4 },
        { rid: 'h', scaleResolutionDownBy: 2 },
        { rid: 'f', scaleResolutionDownBy: 1 },
      ].slice(3 - count);
      return layers.map((l) => ({ ...l, ...fps }));
    }

    // setLayers turns the simulcast layers nobody receives off, and the
    // others on, as the server asks.
    setLayers(layers) {
      const t = this.transceivers.find((x) => x.sender.track && x.sender.track.kind === 'video');
      if (!t) return;
      const params = t.sender.getParameters();
      if (!params.encodings || params.encodings.length < 2) return;
      let changed = false;
      for (const e of params.encodings) {
        const l = layers.find((x) => x.rid === e.rid);
        if (l && e.active !== l.active) {
          e.active = l.active;
          changed = true;
        }
      }
      if (changed) t.sender.setParameters(params).catch((err) => log.warn('cannot change the simulcast layers:', err.message));
    }

    // mediaStream returns the published tracks.
    get mediaStream() {
      return this.#media;
    }

    // describe returns the stream description sent with "publish".
    describe() {
      const v = this.#media.getVideoTracks()[0];
      const a = this.#media.getAudioTracks()[0];
      const s = v && v.getSettings();
      return {
        name: this.properties.name || '',
        hasAudio: Boolean(a && a.enabled),
        hasVideo: Boolean(v && v.enabled),
        videoType: this.getVideoSource().type || undefined,
        videoDimensions: s && s.width ? { width: s.width, height: s.height } : undefined,
      };
    }

    publishAudio(on) {
      this.properties.publishAudio = Boolean(on);
      this.#setEnabled('audio', Boolean(on));
      return this;
    }

    publishVideo(on) {
      this.properties.publishVideo = Boolean(on);
      this.#setEnabled('video', Boolean(on));
      this.#widget.toggle('OT_audio-only', !on);
      return this;
    }

    #setEnabled(kind, on) {
      if (!this.#media) return;
      const tracks = kind === 'audio' ? this.#media.getAudioTracks() : this.#media.getVideoTracks();
      if (!tracks.length || tracks.every((t) => t.enabled === on)) return;
      tracks.forEach((t) => (t.enabled = on));
      if (this.session && this.streamId) {
        this.session.updateStream(this, { [kind]: on }).catch((err) => {
          log.warn(`publish${kind === 'audio' ? 'Audio' : 'Video'}(${on}) refused:`, err.message);
          if (kind === 'audio' && err.code === 1540) {
            tracks.forEach((t) => (t.enabled = false));
            this.properties.publishAudio = false;
          }
        });
      }
    }

    #resized() {
      const v = this.#widget.video;
      const now = { width: v.videoWidth, height: v.videoHeight };
      const old = this.lastDimensions;
      this.lastDimensions = now;
      if (!old || (old.width === now.width && old.height === now.height)) return;
      this.emit(new Event('videoDimensionsChanged', { oldValue: old, newValue: now }));
      if (this.session && this.streamId) this.session.updateStream(this, { stream: { videoDimensions: now } }).catch(() => {});
    }

    #mediaStopped(track) {
      if (this.#destroyed) return;
      this.emit(new Event('mediaStopped', { track }));
      if (this.session && this.streamId) this.session.unpublish(this);
    }

    // forcedMute turns the audio off because a moderator muted the stream.
    forcedMute() {
      if (!this.#media || this.properties.publishAudio === false) return;
      this.properties.publishAudio = false;
      this.#media.getAudioTracks().forEach((t) => (t.enabled = false));
      this.emit(new Event('muteForced'));
    }

    videoWidth() {
      return this.#widget.video.videoWidth;
    }

    videoHeight() {
      return this.#widget.video.videoHeight;
    }

    getAudioSource() {
      return this.#media ? this.#media.getAudioTracks()[0] : undefined;
    }

    getVideoSource() {
      const track = this.#media ? this.#media.getVideoTracks()[0] : undefined;
      const type = !track ? null : this.screen ? 'screen' : this.properties.videoSource instanceof MediaStreamTrack ? 'custom' : 'camera';
      return { deviceId: track ? track.getSettings().deviceId : undefined, type, track: track || null };
    }

    getImgData() {
      return imageOf(this.#widget.video);
    }

    // senders returns the RTP senders of the published stream, on every
    // peer connection that carries it.
    #senders() {
      return [...this.transceivers.map((t) => t.sender), ...[...this.peers.values()].flatMap((l) => l.pc.getSenders())];
    }

    // perPC runs statsFn on the senders of each peer connection that carries
    // the stream: the one with the server in a routed session (an item
    // without connectionId), one per subscriber in a relayed session.
    #perPC(statsFn) {
      if (!this.relayed) return statsFn(this.transceivers.map((t) => t.sender)).then((v) => [v]);
      return Promise.all([...this.peers].map(([connectionId, l]) => statsFn(l.pc.getSenders()).then((v) => ({ connectionId, ...v }))));
    }

    getStats(cb) {
      return withCallback(this.#perPC((senders) => statsOf(senders, 'out').then((stats) => ({ stats }))), cb);
    }

    getRtcStatsReport() {
      return this.#perPC((senders) => mergeReports(senders).then((rtcStatsReport) => ({ rtcStatsReport })));
    }

    // dropPeer closes the relayed peer connection to a subscriber.
    dropPeer(connectionId) {
      const link = this.peers.get(connectionId);
      if (!link) return;
      this.peers.delete(connectionId);
      link.close();
    }

    // published records the stream the server created for this publisher.
    published(stream) {
      this.stream = stream;
      this.emit(new Event('streamCreated', { stream }));
    }

    // unpublished handles the end of the publisher's stream: by default the
    // publisher is destroyed; preventDefault() keeps it for reuse.
    unpublished(reason) {
      const stream = this.stream;
      this.stream = undefined;
      this.streamId = undefined;
      this.session = undefined;
      this.transceivers = [];
      [...this.peers.keys()].forEach((id) => this.dropPeer(id));
      this.relayed = false;
      const ev = this.emit(new Event('streamDestroyed', { stream, reason }, true), () => this.destroy(reason));
      if (this.#destroying && ev.isDefaultPrevented()) this.destroy(reason);
    }

    // destroy stops the publisher's media and removes its element, after
    // unpublishing it if it is published.
    destroy(reason) {
      if (this.#destroyed) return this;
      if (this.session && this.streamId) {
        this.#destroying = true;
        this.session.unpublish(this);
        return this;
      }
      this.#destroyed = true;
      this.#stopLevels();
      if (this.#meter) this.#meter.close();
      if (this.#media && !(this.properties.videoSource instanceof MediaStreamTrack)) this.#media.getTracks().forEach((t) => t.stop());
      this.#widget.remove();
      publishers.remove(this);
      this.emit(new Event('destroyed', { reason: reason || 'clientDisconnected' }));
      return this;
    }
  }

  function imageOf(video) {
    if (!video.videoWidth) return null;
    const c = document.createElement('canvas');
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    return c.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
  }

  // ------------------------------------------------------------- subscriber

  const blocked = new Set(); // subscribers whose audio the browser blocked

  /** Subscriber plays one remote stream. */
  class Subscriber extends EventEmitter {
    #widget;
    #session;
    #stopLevels;
    #started;
    #fail;
    #destroyed = false;

    constructor(session, stream, target, props) {
      super();
      this.#session = session;
      this.stream = stream;
      this.properties = { subscribeToAudio: true, subscribeToVideo: true, audioVolume: 50, ...props };
      this.#widget = new Widget('subscriber', target, props, stream.name);
      this.id = this.#widget.id;
      this.element = this.#widget.element;
      this.#widget.video.volume = this.properties.audioVolume / 100;
      this.#widget.toggle('OT_audio-only', !this.#videoOn());
      this.started = new Promise((resolve) => (this.#started = resolve));
      this.failed = new Promise((_, reject) => (this.#fail = reject));
      this.failed.catch(() => {});
      this.#stopLevels = watchAudioLevel(this, () => {
        const r = this.#receivers().find((x) => x.track.kind === 'audio');
        return r ? audioLevelOf(r) : undefined;
      });
      subscribers.add(this);
      // After subscribe() returns, so that its caller can listen.
      queueMicrotask(() => this.emit(new Event('videoElementCreated', { element: this.#widget.video })));
    }

    #qualityOff = false; // the server stopped the video: the bandwidth does not carry it

    #videoOn() {
      return this.stream.hasVideo && this.properties.subscribeToVideo !== false && !this.#qualityOff;
    }

    // preferences returns the preferred resolution and frame rate for the
    // server, as set in the properties or with the setters.
    preferences() {
      const out = {};
      const r = this.properties.preferredResolution;
      if (r && (r.width || r.height)) out.preferredResolution = { width: Number(r.width) || 0, height: Number(r.height) || 0 };
      if (this.properties.preferredFrameRate) out.preferredFrameRate = Number(this.properties.preferredFrameRate);
      return out;
    }

    // setPreferredResolution asks the server for the video layer closest to
    // (and at least) {width, height}; null asks for the highest.
    setPreferredResolution(res) {
      if (res != null && (typeof res !== 'object' || !(res.width >= 0) || !(res.height >= 0))) {
        throw invalidParameter('setPreferredResolution: expected {width, height}');
      }
      this.properties.preferredResolution = res || undefined;
      this.#session.subscription(this, { preferredResolution: res ? { width: Number(res.width), height: Number(res.height) } : { width: 0, height: 0 } });
      return this;
    }

    // setPreferredFrameRate asks the server for the fewest temporal layers
    // that give at least fps frames a second; null asks for all.
    setPreferredFrameRate(fps) {
      if (fps != null && !(Number(fps) >= 0)) throw invalidParameter('setPreferredFrameRate: expected a number');
      this.properties.preferredFrameRate = fps == null ? undefined : Number(fps);
      this.#session.subscription(this, { preferredFrameRate: fps == null ? 0 : Number(fps) });
      return this;
    }

    // qualityChanged handles the server stopping (off) or resuming the video
    // because of the subscriber's bandwidth (audio fallback).
    qualityChanged(off) {
      const was = this.#videoOn();
      this.#qualityOff = off;
      this.videoChanged('quality', was);
    }

    #receivers() {
      const ms = this.#widget.video.srcObject;
      return ms ? this.#session.receiversOf(ms) : [];
    }

    // attach plays a remote MediaStream that carries this subscriber's
    // stream; started resolves when media plays.
    attach(ms) {
      const v = this.#widget.video;
      if (v.srcObject !== ms) {
        v.srcObject = ms;
        v.addEventListener('resize', () => this.#resized());
        this.#play();
      }
      const playing = () => {
        this.#widget.toggle('OT_loading', false);
        this.#started();
      };
      if (this.#videoOn()) {
        // The first decoded frame sets videoWidth and fires "resize".
        const check = () => v.videoWidth && playing();
        v.addEventListener('resize', check);
        v.addEventListener('playing', check);
        check();
      } else if (ms.getAudioTracks().length) {
        playing();
      }
    }

    // play starts the video with sound; when the browser blocks that, it
    // plays muted until OT.unblockAudio() is called from a user gesture.
    #play() {
      const v = this.#widget.video;
      v.muted = false;
      v.play().catch((err) => {
        if (err.name !== 'NotAllowedError' || this.#destroyed) return;
        v.muted = true;
        v.play().catch(() => {});
        blocked.add(this);
        this.#widget.toggle('OT_audio-blocked', true);
        this.emit(new Event('audioBlocked'));
      });
    }

    // unblock plays the sound that the browser blocked.
    unblock() {
      const v = this.#widget.video;
      v.muted = false;
      return v.play().then(() => {
        blocked.delete(this);
        this.#widget.toggle('OT_audio-blocked', false);
        this.emit(new Event('audioUnblocked'));
      });
    }

    isAudioBlocked() {
      return blocked.has(this);
    }

    #resized() {
      const v = this.#widget.video;
      const now = { width: v.videoWidth, height: v.videoHeight };
      const old = this.lastDimensions;
      this.lastDimensions = now;
      if (old && (old.width !== now.width || old.height !== now.height)) {
        this.emit(new Event('videoDimensionsChanged', { oldValue: old, newValue: now }));
      }
    }

    subscribeToAudio(on) {
      this.properties.subscribeToAudio = Boolean(on);
      this.#session.subscription(this, { audio: Boolean(on) });
      return this;
    }

    subscribeToVideo(on) {
      const was = this.#videoOn();
      this.properties.subscribeToVideo = Boolean(on);
      this.#session.subscription(this, { video: Boolean(on) });
      this.videoChanged('subscribeToVideo', was);
      return this;
    }

    // videoChanged fires videoDisabled or videoEnabled when the video went
    // off or on for reason; was is whether it was on before.
    videoChanged(reason, was) {
      const on = this.#videoOn();
      if (on === was) return;
      this.#widget.toggle('OT_audio-only', !on);
      this.emit(new Event(on ? 'videoEnabled' : 'videoDisabled', { reason }));
    }

    setAudioVolume(v) {
      this.properties.audioVolume = Math.max(0, Math.min(100, Number(v)));
      this.#widget.video.volume = this.properties.audioVolume / 100;
      return this;
    }

    getAudioVolume() {
      return this.properties.audioVolume;
    }

    videoWidth() {
      return this.#widget.video.videoWidth;
    }

    videoHeight() {
      return this.#widget.video.videoHeight;
    }

    getImgData() {
      return imageOf(this.#widget.video);
    }

    getStats(cb) {
      return withCallback(statsOf(this.#receivers(), 'in'), cb);
    }

    getRtcStatsReport() {
      return mergeReports(this.#receivers());
    }

    // fail ends a subscription the server gave up on (this browser cannot
    // decode the stream's codec): subscribe() fails with err, and the
    // subscriber is destroyed.
    fail(err) {
      this.#fail(err);
      queueMicrotask(() => this.destroy());
    }

    // destroy removes the subscriber; the session stops the subscription.
    destroy(reason) {
      if (this.#destroyed) return this;
      this.#destroyed = true;
      this.#stopLevels();
      blocked.delete(this);
      this.#widget.remove();
      subscribers.remove(this);
      this.#session.dropSubscriber(this);
      this.emit(new Event('destroyed', { reason: reason || 'clientDisconnected' }));
      return this;
    }
  }

  // ---------------------------------------------------------------- session

  const SIGNAL_TYPE = /^[A-Za-z0-9\-_~]{0,128}$/;

  // splitArgs sorts OpenTok's optional (target, properties, callback)
  // arguments.
  function splitArgs(args) {
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

  // addTracks adds a send-only transceiver to pc for each track of a
  // publisher, and returns them. Video sent to the server (routed) may go
  // in layers, simulcast or spatial (svcModes: see Publisher.encodings);
  // peer to peer it goes in one.
  function addTracks(pc, p, routed, svcModes = []) {
    const ms = p.mediaStream;
    return ms.getTracks().map((track) => {
      const init = { direction: 'sendonly', streams: [ms] };
      if (track.kind === 'video') init.sendEncodings = p.encodings(track, routed, svcModes);
      return pc.addTransceiver(track, init);
    });
  }

  // svcModes resolves with the scalability modes of spatial layers the
  // browser can send in the session's video codec (codec), among those the
  // server forwards: L2T3_KEY and L3T3_KEY of VP9. Chromium can (though
  // RTCRtpSender.getCapabilities does not list them); Firefox cannot.
  async function svcModes(codec) {
    if (codec !== 'VP9' || !navigator.mediaCapabilities) return [];
    const modes = ['L2T3_KEY', 'L3T3_KEY'];
    const video = { contentType: 'video/VP9', width: 1280, height: 720, bitrate: 1e6, framerate: 30 };
    const supported = await Promise.all(modes.map((scalabilityMode) => navigator.mediaCapabilities
      .encodingInfo({ type: 'webrtc', video: { ...video, scalabilityMode } })
      .then((r) => r.supported, () => false)));
    return modes.filter((_, i) => supported[i]);
  }

  // answerOffer applies a remote offer to pc and returns its answer, set as
  // the local description.
  async function answerOffer(pc, sdp) {
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    return pc.localDescription.sdp;
  }

  /** Session is a connection to one Crossbar session. */
  class Session extends EventEmitter {
    #sig = null;
    #iceServers = [];
    #relayed = false; // media goes peer to peer: see PROTOCOL.md, "Media in relayed sessions"
    #svcModes = null; // promise of svcModes(the session's video codec)
    #pub = null; // PeerLink of published streams (routed)
    #sub = null; // PeerLink of subscribed streams (routed)
    #relays = new Map(); // stream id -> PeerLink from its publisher (relayed)
    #remote = new Map(); // stream id -> remote MediaStream
    #subscribed = new Map(); // stream id -> Subscriber
    #publishing = new Set(); // Publishers whose stream is published or being published

    constructor(apiKey, sessionId, options) {
      super();
      this.apiKey = apiKey;
      this.sessionId = sessionId;
      this.options = options || {};
      this.connection = undefined;
      this.capabilities = {};
      this.connections = new Collection('connectionId');
      this.streams = new Collection('streamId');
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
        const { transport } = this.options;
        if (transport !== undefined && typeof transport !== 'function') throw invalidParameter('connect: the transport option is not a function');
        const url = transport ? '' : signalingURL(this.options.url);
        this.#sig = new Signaling(transport || webSocketTo(url), url || 'the signaling transport', {
          onMessage: (msg) => this.#onMessage(msg),
          onReconnecting: () => {
            this.currentState = 'reconnecting';
            this.emit(new Event('sessionReconnecting'));
          },
          onReconnected: () => {
            this.currentState = 'connected';
            this.emit(new Event('sessionReconnected'));
          },
          onEnd: (reason) => this.#ended(reason),
        });
        m = await this.#sig.connect(token, this.sessionId, this.options.connectionEventsSuppressed);
      } catch (err) {
        this.currentState = 'disconnected';
        this.#sig = null;
        throw err;
      }
      this.currentState = 'connected';
      this.#iceServers = m.iceServers || [];
      this.#relayed = m.mediaMode === 'relayed';
      this.#svcModes = svcModes(m.videoCodec);
      this.capabilities = { ...m.capabilities, supportsWebRTC: 1 };
      this.connection = new Connection(m.connection);
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
    }

    disconnect() {
      if (this.#sig) this.#sig.close();
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
          this.emit(new Event('connectionCreated', { connection }));
          break;
        }
        case 'connectionDestroyed': {
          const connection = this.connections.get(m.connection.connectionId) || new Connection(m.connection);
          this.connections.remove(connection);
          this.#publishing.forEach((p) => p.dropPeer(connection.connectionId));
          for (const [id, link] of this.#relays) if (link.peer === connection.connectionId) this.#closeRelay(id);
          this.emit(new Event('connectionDestroyed', { connection, reason: m.reason }));
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
        case 'subscriberOffer':
          this.#answer(m.sdp);
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
        case 'subscriptionFailed': {
          const sub = this.#subscribed.get(m.streamId);
          if (!sub) break;
          this.#subscribed.delete(m.streamId); // the server ended it: no unsubscribe
          this.#remote.delete(m.streamId);
          sub.fail(fromServer(m.error));
          break;
        }
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
      if (!stream) return;
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

    #ended(reason) {
      this.currentState = 'disconnected';
      this.#sig = null;
      for (const p of [...this.#publishing]) {
        this.#publishing.delete(p);
        if (p.streamId) p.unpublished(reason);
      }
      if (this.#pub) this.#pub.close();
      if (this.#sub) this.#sub.close();
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
        p.session = undefined;
        p.streamId = undefined;
        throw err;
      }
    }

    #waitPublished(p) {
      if (p.stream) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          p.off('streamCreated', done);
          reject(new OTError('OT_ICE_WORKFLOW_FAILED', 1553, 'publish: no media reached the server'));
        }, PUBLISH_TIMEOUT);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        p.once('streamCreated', done);
      });
    }

    // publisherLink returns the publisher PC, making it on first use. Its
    // first m-section is a data channel that lives as long as the PC: when
    // every stream is unpublished and their transceivers stopped, it keeps
    // the BUNDLE transport, which the next stream then reuses.
    #publisherLink() {
      if (this.#pub) return this.#pub;
      const link = new PeerLink(this.#iceServers, (candidate) => this.#sig && this.#sig.send({ type: 'candidate', pc: 'publisher', candidate }));
      link.pc.createDataChannel('crossbar');
      link.serially(() => this.#offer(link)).catch((err) => log.error('cannot set up the publisher connection:', err.message));
      this.#pub = link;
      return link;
    }

    // offer renegotiates the publisher PC with an "offer" request.
    async #offer(link) {
      await link.pc.setLocalDescription(await link.pc.createOffer());
      const r = this.#request({ type: 'offer', sdp: link.pc.localDescription.sdp });
      link.described();
      await link.pc.setRemoteDescription({ type: 'answer', sdp: (await r).sdp });
    }

    async #negotiatePublish(p) {
      if (this.#relayed) {
        // Media goes to each subscriber when it subscribes (peerSubscribed).
        p.relayed = true;
        return (await this.#request({ type: 'publish', stream: p.describe() })).streamId;
      }
      const link = this.#publisherLink();
      const modes = await this.#svcModes;
      return link.serially(async () => {
        const pc = link.pc;
        const transceivers = addTracks(pc, p, true, modes);
        try {
          await pc.setLocalDescription(await pc.createOffer());
          const tracks = transceivers.map((t) => ({ mid: t.mid, kind: t.sender.track.kind }));
          const reply = this.#request({ type: 'publish', sdp: pc.localDescription.sdp, stream: p.describe(), tracks });
          link.described();
          const r = await reply;
          await pc.setRemoteDescription({ type: 'answer', sdp: r.sdp });
          p.transceivers = transceivers;
          return r.streamId;
        } catch (err) {
          if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
          transceivers.forEach((t) => t.stop());
          throw err;
        }
      });
    }

    // peerSubscribed opens a relayed peer connection from one of our
    // streams to a new subscriber, and offers it the stream's tracks.
    #peerSubscribed({ connectionId, streamId }) {
      const p = this.getPublisherForStream(streamId);
      if (!p || p.peers.has(connectionId)) return;
      const link = this.#relayLink(streamId, connectionId);
      p.peers.set(connectionId, link);
      addTracks(link.pc, p);
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
      const link = new PeerLink(this.#iceServers, (candidate) => relay({ candidate }));
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
          if (p) return link.pc.setRemoteDescription({ type: 'answer', sdp });
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
        await this.#request({
          type: 'subscribe',
          streamId: id,
          audio: sub.properties.subscribeToAudio !== false,
          video: sub.properties.subscribeToVideo !== false,
          ...sub.preferences(),
        });
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

    #answer(sdp) {
      if (!this.#sub) {
        this.#sub = new PeerLink(this.#iceServers, (candidate) => this.#sig && this.#sig.send({ type: 'candidate', pc: 'subscriber', candidate }));
        this.#sub.pc.ontrack = (e) => {
          const ms = e.streams[0];
          if (!ms) return;
          this.#remote.set(ms.id, ms);
          const sub = this.#subscribed.get(ms.id);
          if (sub) sub.attach(ms);
        };
      }
      const link = this.#sub;
      link
        .serially(async () => {
          const answer = await answerOffer(link.pc, sdp);
          if (this.#sig) this.#sig.send({ type: 'answer', sdp: answer });
          link.described();
        })
        .catch((err) => log.error('cannot answer the server:', err.message));
    }

    // receiversOf returns the receivers of a remote MediaStream's tracks.
    receiversOf(ms) {
      const tracks = ms.getTracks();
      const links = [this.#sub, ...this.#relays.values()].filter(Boolean);
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

  // --------------------------------------------------------------------- OT

  const OT = new EventEmitter();
  Object.assign(OT, {
    version: VERSION,
    Event,
    EventEmitter,
    OTError,
    Session,
    Publisher,
    Subscriber,
    Connection,
    Stream,
    ExceptionCodes,
    sessions,
    publishers,
    subscribers,
    NONE: 0,
    ERROR: 1,
    WARN: 2,
    INFO: 3,
    LOG: 4,
    DEBUG: 5,

    // initSession returns the Session for sessionId, the same object for
    // every call. options.url is the signaling WebSocket URL;
    // options.transport, a function returning a WebSocket-like link, carries
    // the signaling instead (see Signaling).
    initSession(apiKey, sessionId, options) {
      if (sessionId == null) [apiKey, sessionId] = [undefined, apiKey];
      if (typeof sessionId !== 'string' || !sessionId) throw new OTError('OT_INVALID_SESSION_ID', 1005, 'initSession: no session id');
      let s = sessions.get(sessionId);
      if (!s) {
        s = new Session(apiKey, sessionId, options);
        sessions.add(s);
      } else if (options) {
        s.options = options;
      }
      return s;
    },

    // initPublisher makes a Publisher and asks for its media at once.
    initPublisher(...args) {
      const a = splitArgs(args);
      const p = new Publisher(a.target, a.props);
      withCallback(p.ready, a.cb).catch(() => {});
      return p;
    },

    checkSystemRequirements() {
      return typeof RTCPeerConnection === 'function' && navigator.mediaDevices ? 1 : 0;
    },

    checkScreenSharingCapability(cb) {
      const supported = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
      cb({ supported, supportedSources: { screen: supported, window: supported, application: false, browser: supported }, extensionRequired: undefined });
    },

    getDevices(cb) {
      const p = navigator.mediaDevices.enumerateDevices().then((list) =>
        list
          .filter((d) => d.kind === 'audioinput' || d.kind === 'videoinput')
          .map((d) => ({ kind: d.kind === 'audioinput' ? 'audioInput' : 'videoInput', deviceId: d.deviceId, label: d.label })),
      );
      return withCallback(p, cb);
    },

    // getUserMedia captures the media OpenTok's options ask for (those of
    // initPublisher: audioSource, videoSource, resolution, frameRate...)
    // and resolves with it as a MediaStream.
    async getUserMedia(props) {
      return new MediaStream(await capture(captureOptions(props || {})));
    },

    // unblockAudio plays the sound of subscribers the browser kept muted.
    // Call it from a click handler.
    unblockAudio() {
      return Promise.all([...blocked].map((s) => s.unblock())).then(() => undefined);
    },

    setLogLevel(level) {
      logLevel = Number(level);
    },

    log(...args) {
      if (logLevel >= 4) console.log('OT:', ...args);
    },
  });

  globalThis.OT = OT;
})();

// @ts-check
// Signaling: the protocol's messages (signaling/PROTOCOL.md) on a WebSocket
// or another link, with pings, and resuming on a new link when one fails.

import { OTError, fromServer, invalidParameter, notConnected } from './errors.js';
import { log } from './log.js';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A browser cannot send WebSocket pings, so the client sends the server a
// "ping" request every PING_INTERVAL, and takes the link for dead when a
// reply has not come PING_TIMEOUT later: a half-open link or a partition
// is noticed within 8 s. The pings also tell a server that hears nothing
// else from the client that it is there (PROTOCOL.md). An attempt to
// (re)connect gives up after DIAL_TIMEOUT.
const PING_INTERVAL = 3000;
const PING_TIMEOUT = 5000;
const DIAL_TIMEOUT = 5000;

let clientURL = ''; // the address of crossbar.js or crossbar.mjs
let proxyURL = ''; // OT.setProxyUrl's

// setClientURL tells the address the client was loaded from, that of its
// script or module, where the signaling WebSocket is by default.
export function setClientURL(url) {
  clientURL = url;
}

// setProxyURL makes the signaling go through a reverse proxy of the
// handler's path by default (OT.setProxyUrl).
export function setProxyURL(url) {
  proxyURL = url.endsWith('/') ? url : `${url}/`;
}

// proxyIsSet reports whether setProxyURL was called.
export function proxyIsSet() {
  return proxyURL !== '';
}

// signalingURL returns the WebSocket URL: the given one, or "ws" at the
// proxy's address (setProxyURL) or beside the client's script.
export function signalingURL(given) {
  const beside = proxyURL || clientURL;
  const base = given || (beside && new URL('ws', new URL(beside, location.href)).href);
  if (!base) throw invalidParameter('no signaling URL: pass {url} to OT.initSession');
  const u = new URL(base, location.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  return u.href;
}

const OPEN = 1; // WebSocket.OPEN, the readyState of a link that is open

// SERVER_PC are the types of the messages about the peer connections with
// the server (and a publish's, when it has an offer).
const SERVER_PC = new Set(['offer', 'answer', 'candidate', 'iceRestart']);

// webSocketTo returns the transport of OT.initSession's options that opens
// a WebSocket to url.
export function webSocketTo(url) {
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
export class Signaling {
  #ws = null; // the current link
  #nextId = 0;
  #pending = new Map();
  #queue = []; // messages sent while reconnecting
  #received = 0; // messages read after the first "connected"
  /** @type {Record<string, number>} origin node -> highest n of the signals received from it */
  #marks = {};
  #token = '';
  #resume = null;
  #state = null; // {m, resolve}: "connected" while more of the session's state comes
  #pinger = 0; // the interval timer of the pings

  // open() returns a new link, named in errors by name. handlers:
  // onMessage(m), onReconnecting(), onReconnected(m, quiet) with the
  // resumed "connected" (m.moved: another node took the connection over;
  // quiet: the server asked for the move, nothing was lost), onEnd(reason).
  constructor(open, name, handlers) {
    this.open = open;
    this.name = name;
    this.h = handlers;
    this.state = 'new'; // open, reconnecting, ended
  }

  // connect joins the session; videoCodecs are the names of the video
  // codecs this client decodes; e2ee says it seals its media.
  async connect(token, sessionId, suppressed, videoCodecs, e2ee) {
    const m = await this.#dial({ type: 'connect', token, sessionId, connectionEventsSuppressed: !!suppressed || undefined, videoCodecs, e2ee: e2ee || undefined });
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
    const msg = { v: 1, ...m };
    if (this.state === 'reconnecting' || !this.#ws) this.#queue.push(msg);
    else this.#ws.send(JSON.stringify(msg));
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
          if (m.moved) this.#received = 0; // the new node counts from its "connected"
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
      const dead = setTimeout(() => this.#drop(ws), PING_TIMEOUT);
      this.request({ type: 'ping' })
        .finally(() => clearTimeout(dead))
        .catch(() => {});
    }, PING_INTERVAL);
  }

  // drop drops ws, the current link, as a failed one, and resumes the
  // connection on a new one; quietly for a move.
  #drop(ws, quiet = false) {
    if (this.#ws !== ws) return;
    ws.onclose = ws.onmessage = null;
    ws.close(); // no goodbye: the server keeps the connection
    this.#lost(quiet);
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
    if (m.type === 'move') {
      this.#drop(this.#ws, true); // the node is draining: resume on another
      return;
    }
    if (m.type === 'signal' && m.signal && m.signal.origin) {
      const { origin, n } = m.signal;
      if (n > (this.#marks[origin] || 0)) this.#marks[origin] = n;
    }
    if (m.type === 'error') {
      if (!m.re) log.warn('server error', m.error);
      return;
    }
    this.h.onMessage(m);
  }

  // lost handles a link that closed without a goodbye: it resumes the
  // connection on a new one, as PROTOCOL.md describes. quiet, for a move
  // the server asked for, tries at once and does not tell the session it
  // is reconnecting. A node that refuses (1006: it is draining too) or
  // cannot be reached is tried again, until the grace period ends.
  async #lost(quiet = false) {
    this.#ws = null;
    clearInterval(this.#pinger);
    this.#failPending('the connection to the server was lost');
    if (this.#state) {
      this.#state.reject(new OTError('OT_CONNECT_FAILED', 1006, 'the connection was lost while joining'));
      this.#state = null;
    }
    if (this.state !== 'open') return;
    this.state = 'reconnecting';
    if (!quiet) this.h.onReconnecting();
    const deadline = Date.now() + 60000;
    for (let wait = quiet ? 0 : 50; Date.now() < deadline; wait = Math.min(2 * wait || 50, 1000)) {
      await sleep(wait);
      if (this.state !== 'reconnecting') return;
      let m;
      try {
        const resume = { ...this.#resume, received: this.#received, signals: { ...this.#marks } };
        m = await this.#dial({ type: 'connect', token: this.#token, resume });
      } catch (err) {
        if (err.code === 1006) continue; // server not reachable yet
        break; // the server no longer has the connection
      }
      if (this.state !== 'reconnecting') {
        this.#ws.close(1000);
        return;
      }
      this.state = 'open';
      if (m.moved) this.#dropStale();
      for (const q of this.#queue.splice(0)) this.#ws.send(JSON.stringify(q));
      this.h.onReconnected(m, quiet);
      return;
    }
    this.#end('networkDisconnected');
  }

  // dropStale drops, after a move, the queued messages about the peer
  // connections with the old node: the new node knows nothing of them.
  // Their requests fail as after a lost link.
  #dropStale() {
    this.#queue = this.#queue.filter((q) => {
      if (!SERVER_PC.has(q.type) && !(q.type === 'publish' && q.sdp)) return true;
      const p = this.#pending.get(q.id);
      this.#pending.delete(q.id);
      if (p) p.reject(new OTError('OT_NOT_CONNECTED', 1010, `${q.type}: the connection moved to another server`));
      return false;
    });
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

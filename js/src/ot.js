// @ts-check
// The OT object: OpenTok's API over Crossbar's signaling protocol
// (signaling/PROTOCOL.md) and WebRTC; crossbar.js's global and
// crossbar.mjs's default export.
//
// The signaling URL is taken from the `url` option of OT.initSession;
// without it, from the client's own address: ".../crossbar/crossbar.js"
// means "ws(s)://same-host/crossbar/ws". The `transport` option replaces the
// WebSocket altogether (see Signaling). The API key given to OT.initSession
// is ignored: the token says which project it belongs to.
//
// Methods that take a completion callback also return a Promise, except
// OT.initPublisher, Session.publish and Session.subscribe, which return the
// Publisher or Subscriber as OpenTok's do.

import { getSupportedCodecs } from './codecs.js';
import { publishers, sessions, subscribers } from './collection.js';
import { getActiveAudioOutputDevice, getAudioOutputDevices, getDevices, setAudioOutputDevice } from './devices.js';
import { hasEndToEndEncryptionSupport } from './e2ee.js';
import { ExceptionCodes, OTError, invalidParameter, withCallback } from './errors.js';
import { Event, EventEmitter } from './events.js';
import { levels, logMessage, setLogLevel } from './log.js';
import { capture, captureOptions } from './media.js';
import { Connection, Stream } from './model.js';
import { hasMediaProcessorSupport } from './processors.js';
import { Publisher } from './publisher.js';
import { Session, splitArgs } from './session.js';
import { proxyIsSet, setProxyURL } from './signaling.js';
import { Subscriber, unblockAudio } from './subscriber.js';

// The named exports are crossbar.mjs's, beside its default export OT.
export { Event, EventEmitter, OTError, Session, Publisher, Subscriber, Connection, Stream, ExceptionCodes };
export { sessions, publishers, subscribers, setLogLevel, unblockAudio };

const VERSION = '1.0.0';

// initSession returns the Session for sessionId, the same object for
// every call. options.url is the signaling WebSocket URL;
// options.transport, a function returning a WebSocket-like link, carries
// the signaling instead (see Signaling).
export function initSession(apiKey, sessionId, options) {
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
}

// initPublisher makes a Publisher and asks for its media at once.
export function initPublisher(...args) {
  const a = splitArgs(args);
  const p = new Publisher(a.target, a.props);
  withCallback(p.ready, a.cb).catch(() => {});
  return p;
}

export function checkSystemRequirements() {
  return typeof RTCPeerConnection === 'function' && navigator.mediaDevices ? 1 : 0;
}

export function checkScreenSharingCapability(cb) {
  const supported = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  cb({ supported, supportedSources: { screen: supported, window: supported, application: false, browser: supported }, extensionRequired: undefined });
}

// setProxyUrl makes sessions without a url option signal through a
// reverse proxy of crossbar's handler at url (its "ws" beside the
// client's script becomes url's "ws"); media goes as before, directly or
// through TURN. As in OpenTok, it is called once, before any session or
// publisher is made.
export function setProxyUrl(url) {
  if (typeof url !== 'string' || !url) throw invalidParameter('setProxyUrl: the URL is not a string');
  if (proxyIsSet()) throw new OTError('OT_PROXY_URL_ALREADY_SET_ERROR', 2022, 'setProxyUrl: the proxy URL is set already');
  if (sessions.length || publishers.length) {
    throw new OTError('OT_SET_PROXY_URL_TIMING_ERROR', 2021, 'setProxyUrl: call it before making any session or publisher');
  }
  setProxyURL(url);
}

// getUserMedia captures the media OpenTok's options ask for (those of
// initPublisher: audioSource, videoSource, resolution, frameRate...)
// and resolves with it as a MediaStream.
export async function getUserMedia(props) {
  return new MediaStream(await capture(captureOptions(props || {})));
}

// OT is what crossbar.d.ts declares.
/** @satisfies {typeof globalThis.OT} */
const OT = Object.assign(new EventEmitter(), {
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
  ...levels,
  initSession,
  initPublisher,
  checkSystemRequirements,
  checkScreenSharingCapability,
  getDevices,
  getAudioOutputDevices,
  setAudioOutputDevice,
  getActiveAudioOutputDevice,
  getUserMedia,
  getSupportedCodecs,
  hasMediaProcessorSupport,
  hasEndToEndEncryptionSupport,
  setProxyUrl,
  // unblockAudio plays the sound of subscribers the browser kept muted.
  // Call it from a click handler.
  unblockAudio,
  setLogLevel,
  log: logMessage,
});

export default OT;

// @ts-check
// The Subscriber: one remote stream, played.

import { audioLevelOf, watchAudioLevel } from './audiolevel.js';
import { subscribers } from './collection.js';
import { playOnChosenOutput } from './devices.js';
import { invalidParameter, withCallback } from './errors.js';
import { log } from './log.js';
import { Event, EventEmitter } from './events.js';
import { mergeReports, statsOf } from './stats.js';
import { imageOf, Widget } from './widget.js';

const blocked = new Set(); // subscribers whose audio the browser blocked

/** Subscriber plays one remote stream. */
export class Subscriber extends EventEmitter {
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
    playOnChosenOutput(this.#widget.video).catch((err) => log.warn('cannot play on the chosen audio output:', err.message));
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

  // sealed resolves started for media that arrives but does not open
  // with the session's encryption secret.
  sealed() {
    this.#started();
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

  // playOn plays the subscriber's audio on the audio output deviceId
  // (OT.setAudioOutputDevice).
  playOn(deviceId) {
    return this.#widget.video.setSinkId(deviceId);
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

  // subscribeToCaptions starts or stops receiving the stream's live
  // captions (captionReceived events).
  subscribeToCaptions(on) {
    return this.#session.captionsSubscription(this, Boolean(on)).then(() => {
      this.properties.subscribeToCaptions = Boolean(on);
    });
  }

  isSubscribedToCaptions() {
    return this.properties.subscribeToCaptions === true;
  }

  // captionReceived fires captionReceived for a caption from the server.
  captionReceived(c) {
    this.emit(new Event('captionReceived', { streamId: this.stream.streamId, caption: c.text, isFinal: Boolean(c.isFinal) }));
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

// unblockAudio plays the sound of the subscribers whose audio the browser
// blocked (OT.unblockAudio).
export function unblockAudio() {
  return Promise.all([...blocked].map((s) => s.unblock())).then(() => undefined);
}

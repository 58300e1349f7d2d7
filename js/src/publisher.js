// @ts-check
// The Publisher: the local camera, screen or custom track, published or not.

import { audioLevelOf, LevelMeter, watchAudioLevel } from './audiolevel.js';
import { publishers } from './collection.js';
import { invalidParameter, notSupported, OTError, withCallback } from './errors.js';
import { Event, EventEmitter } from './events.js';
import { log } from './log.js';
import { invalidSource, nextCamera, sourceTrack } from './devices.js';
import { capture, captureOptions, mediaError } from './media.js';
import { checkConnector, VideoFilter } from './processors.js';
import { mergeReports, statsOf } from './stats.js';
import { imageOf, Widget } from './widget.js';

// contentHints are the video content hints OpenTok takes.
const contentHints = ['', 'motion', 'detail', 'text'];

/** Publisher is the local camera, screen or custom track, published or not. */
export class Publisher extends EventEmitter {
  #widget;
  #media = null; // MediaStream
  #stopLevels;
  #meter = null; // LevelMeter of the audio track, made when levels are first listened for
  #destroyed = false;
  #destroying = false;
  /** @type {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null}} the captured or given tracks, before any processor */
  #sources = { audio: null, video: null };
  /** @type {Set<MediaStreamTrack>} the sources the publisher captured, which it stops */
  #owned = new Set();
  /** @type {{audio: OT.MediaProcessorConnector|null, video: OT.MediaProcessorConnector|null}} */
  #connectors = { audio: null, video: null };
  /** @type {VideoFilter|null} the connector of applyVideoFilter */
  #filter = null;
  /** @type {'camera'|'screen'|'custom'} */
  #videoType;
  #changes = Promise.resolve(); // the source and processor changes, one at a time
  /** @type {OT.VideoContentHint} what the video is, for the encoder (MediaStreamTrack.contentHint) */
  #contentHint = '';

  constructor(target, props) {
    super();
    const capture = captureOptions(props || {});
    // A screen share publishes audio only if asked to (captureOptions).
    this.properties = { publishAudio: !capture.screen || Boolean(capture.audio), publishVideo: true, name: '', ...props };
    const p = this.properties;
    this.screen = capture.screen;
    this.#videoType = this.screen ? 'screen' : p.videoSource instanceof MediaStreamTrack ? 'custom' : 'camera';
    if (contentHints.includes(p.videoContentHint)) this.#contentHint = p.videoContentHint;
    else if (p.videoContentHint !== undefined) log.warn('videoContentHint ignored:', p.videoContentHint);
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
    for (const t of tracks) {
      this.#sources[t.kind] = t;
      if (t !== options.audio && t !== options.video) this.#owned.add(t);
    }
    this.accessAllowed = true;
    this.emit(new Event('accessAllowed'));
    for (const t of this.#media.getAudioTracks()) t.enabled = p.publishAudio !== false;
    for (const t of this.#media.getVideoTracks()) {
      t.enabled = p.publishVideo !== false;
      if (this.#contentHint) t.contentHint = this.#contentHint;
      this.#watchEnd(t);
    }
    const v = this.#widget.video;
    v.srcObject = this.#media;
    v.addEventListener('playing', () => this.#widget.toggle('OT_loading', false), { once: true });
    v.addEventListener('resize', () => this.#resized());
    v.play().catch(() => {});
    this.#widget.toggle('OT_audio-only', !this.#media.getVideoTracks().length || p.publishVideo === false);
    if (!this.#media.getVideoTracks().length) this.#widget.toggle('OT_loading', false);
    this.emit(new Event('videoElementCreated', { element: v }));
    if (p.videoFilter) this.applyVideoFilter(p.videoFilter).catch((err) => log.warn('cannot apply the videoFilter:', err.message));
  }

  // watchEnd unpublishes when a video source ends (the user stopped the
  // screen share, or unplugged the camera) while it is the source.
  #watchEnd(track) {
    track.addEventListener('ended', () => this.#sources.video === track && this.#mediaStopped(track));
  }

  // change runs fn after the source and processor changes queued before.
  #change(fn) {
    const p = this.#changes.then(fn);
    this.#changes = p.catch(() => {});
    return p;
  }

  // published returns the track of kind that goes out: the source, or
  // what its processor makes of it.
  #published(kind) {
    const tracks = !this.#media ? [] : kind === 'audio' ? this.#media.getAudioTracks() : this.#media.getVideoTracks();
    return tracks[0] || null;
  }

  // route sends the source of kind, through its processor if it has one,
  // in place of the track that went out: on the preview and on every
  // sender, without renegotiating. The stream keeps its id and its
  // subscribers.
  async #route(kind) {
    const source = this.#sources[kind];
    const c = this.#connectors[kind];
    const out = c && source ? await c.setTrack(source) : source;
    if (!(out instanceof MediaStreamTrack) || out.kind !== kind) throw new OTError('OT_MEDIA_PROCESSOR_ERROR', 2000, `the ${kind} processor gave no ${kind} track`);
    const old = this.#published(kind);
    if (out === old) return;
    out.enabled = this.properties[kind === 'audio' ? 'publishAudio' : 'publishVideo'] !== false;
    if (kind === 'video' && this.#contentHint) out.contentHint = this.#contentHint;
    const senders = this.#senders().filter((x) => old && x.track === old);
    if (old) this.#media.removeTrack(old);
    this.#media.addTrack(out);
    await Promise.all(senders.map((x) => x.replaceTrack(out)));
  }

  // setSource makes src (a device id or a track) the source of kind.
  async #setSource(kind, src) {
    const method = kind === 'audio' ? 'setAudioSource' : 'setVideoSource';
    if (kind === 'video' && this.screen) throw new OTError('OT_SET_VIDEO_SOURCE_FAILURE', 1040, `${method}: the publisher shares the screen`);
    await this.ready;
    if (this.#destroyed) throw new OTError('OT_PUBLISHER_DESTROYED', 1500, `${method}: the publisher was destroyed`);
    if (!this.#sources[kind]) throw invalidSource(kind, `the publisher was made without ${kind}`);
    const { track, owned } = await sourceTrack(kind, src, this.properties);
    const old = this.#sources[kind];
    this.#sources[kind] = track;
    try {
      await this.#route(kind);
    } catch (err) {
      this.#sources[kind] = old;
      if (owned) track.stop();
      throw err;
    }
    if (owned) this.#owned.add(track);
    if (kind === 'video') {
      this.#videoType = owned ? 'camera' : 'custom';
      this.#watchEnd(track);
    }
    if (old !== track && this.#owned.delete(old)) old.stop();
    if (this.#destroyed && this.#owned.delete(track)) track.stop();
  }

  // setVideoContentHint tells the browser's encoder what the video is
  // (MediaStreamTrack.contentHint): '' none, 'motion', 'detail' or 'text'
  // (detail and text keep the resolution and give up frames first). It
  // holds for the sources to come too.
  setVideoContentHint(hint) {
    if (!contentHints.includes(hint)) throw invalidParameter(`setVideoContentHint: ${hint}`);
    this.#contentHint = hint;
    const track = this.#published('video');
    if (track) track.contentHint = hint;
  }

  getVideoContentHint() {
    return this.#contentHint;
  }

  // setVideoSource switches the video to another camera (a device id) or
  // to a track of the app's, in the published stream as it goes.
  setVideoSource(src) {
    return this.#change(() => this.#setSource('video', src));
  }

  // setAudioSource switches the audio to another microphone (a device id)
  // or to a track of the app's, in the published stream as it goes.
  setAudioSource(src) {
    return this.#change(() => this.#setSource('audio', src));
  }

  // cycleVideo switches to the browser's next camera and resolves with
  // its {deviceId}.
  async cycleVideo() {
    await this.ready;
    if (this.#videoType !== 'camera') throw new OTError('OT_SET_VIDEO_SOURCE_FAILURE', 1040, `cycleVideo: the video source is not a camera but ${this.#videoType}`);
    const current = this.getVideoSource().deviceId;
    const deviceId = await nextCamera(current);
    if (!deviceId) throw new OTError('OT_SET_VIDEO_SOURCE_FAILURE', 1040, 'cycleVideo: no camera');
    if (deviceId !== current) await this.setVideoSource(deviceId);
    return { deviceId };
  }

  // setConnector puts connector (OpenTok's MediaProcessorConnector, or
  // null for none) between the source of kind and what is sent.
  async #setConnector(kind, connector, filter = null) {
    if (connector != null) checkConnector(connector);
    await this.ready;
    if (!this.#sources[kind]) throw notSupported(`the publisher has no ${kind} to process`);
    const old = this.#connectors[kind];
    const oldFilter = this.#filter;
    this.#connectors[kind] = connector || null;
    if (kind === 'video') this.#filter = filter;
    try {
      await this.#route(kind);
    } catch (err) {
      this.#connectors[kind] = old;
      if (kind === 'video') this.#filter = oldFilter;
      await this.#route(kind).catch(() => {});
      throw err;
    }
    if (kind === 'video' && oldFilter && oldFilter !== filter) oldFilter.destroy();
  }

  setVideoMediaProcessorConnector(connector) {
    return this.#change(() => this.#setConnector('video', connector));
  }

  setAudioMediaProcessorConnector(connector) {
    return this.#change(() => this.#setConnector('audio', connector));
  }

  // applyVideoFilter processes the video with one of OpenTok's filters
  // (see VideoFilter).
  applyVideoFilter(filter) {
    return this.#change(async () => {
      const f = new VideoFilter(filter);
      await this.#setConnector('video', f, f).catch((err) => {
        f.destroy();
        throw err;
      });
    });
  }

  getVideoFilter() {
    return this.#filter ? this.#filter.filter : null;
  }

  // clearVideoFilter removes the filter of applyVideoFilter.
  clearVideoFilter() {
    return this.#change(async () => {
      if (this.#filter) await this.#setConnector('video', null);
    });
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
  encodings(track, routed, svcModes = []) {
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
      hasCaptions: this.properties.publishCaptions === true,
    };
  }

  publishAudio(on) {
    this.properties.publishAudio = Boolean(on);
    this.#setEnabled('audio', Boolean(on));
    return this;
  }

  // publishCaptions starts or stops publishing live captions of the
  // audio: the server transcribes it, while the session has captions, for
  // the subscribers that ask.
  publishCaptions(on) {
    this.properties.publishCaptions = Boolean(on);
    if (this.session && this.streamId) {
      this.session.updateStream(this, { captions: Boolean(on) }).catch((err) => log.warn(`publishCaptions(${Boolean(on)}) refused:`, err.message));
    }
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
    const source = this.#sources[kind];
    if (source) source.enabled = on;
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
    return this.#sources.audio || undefined;
  }

  /** @returns {ReturnType<OT.Publisher['getVideoSource']>} */
  getVideoSource() {
    const track = this.#sources.video;
    return { deviceId: track ? track.getSettings().deviceId : undefined, type: track ? this.#videoType : null, track };
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
    this.#owned.forEach((t) => t.stop());
    this.#owned.clear();
    if (this.#filter) this.#filter.destroy();
    this.#widget.remove();
    publishers.remove(this);
    this.emit(new Event('destroyed', { reason: reason || 'clientDisconnected' }));
    return this;
  }
}

// @ts-check
// Audio levels: audioLevelUpdated events, from the RTP receiver or sender,
// or from Web Audio for a publisher's track.

import { Event } from './events.js';

// audioLevelOf reads the audio level (0..1) from a stats report.
// A receiver's level comes from the audio level header extension
// (RFC 6464) of the packets the server forwards, as the browser exposes it
// in getSynchronizationSources(); the stats are the fallback.
export async function audioLevelOf(part) {
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

const LEVEL_INTERVAL = 60; // ms between audioLevelUpdated events, as OpenTok's

// watchAudioLevel emits an emitter's audio level while it has
// audioLevelUpdated listeners: level() returns it (0..1), or undefined
// while there is none. It returns the function that stops it.
export function watchAudioLevel(emitter, level) {
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
export class LevelMeter {
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

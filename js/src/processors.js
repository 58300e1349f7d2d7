// @ts-check
// Media processors: OpenTok's MediaProcessorConnector, which the app puts
// between a publisher's source and what it sends, and the video filters of
// Publisher.applyVideoFilter.

import { invalidParameter, notSupported } from './errors.js';

// The insertable streams of raw media, which TypeScript's DOM lacks.
const { MediaStreamTrackProcessor, MediaStreamTrackGenerator } = /** @type {any} */ (globalThis);

// hasMediaProcessorSupport reports whether this browser runs the video
// filters (OT.hasMediaProcessorSupport): it needs insertable streams of
// raw media (MediaStreamTrackProcessor and MediaStreamTrackGenerator:
// Chromium; not Firefox or Safari).
export function hasMediaProcessorSupport() {
  return typeof MediaStreamTrackProcessor === 'function' && typeof MediaStreamTrackGenerator === 'function';
}

// checkConnector throws OpenTok's error for what is not a
// MediaProcessorConnector: an object with setTrack(track), which resolves
// with the processed track, and destroy().
export function checkConnector(c) {
  if (!c || typeof c.setTrack !== 'function' || typeof c.destroy !== 'function') {
    throw invalidParameter('expected a MediaProcessorConnector: {setTrack(track) => Promise<MediaStreamTrack>, destroy()}');
  }
}

const BLUR = { low: 5, high: 12 }; // blurStrength -> blur radius in px at 640 px wide

/**
 * VideoFilter is the connector of Publisher.applyVideoFilter. Crossbar
 * ships no segmentation model, so it cannot tell the person from the
 * background: 'backgroundBlur' blurs the whole picture (at blurStrength
 * 'low' or 'high'), and 'backgroundReplacement' is not supported. Frames
 * go through a canvas between a MediaStreamTrackProcessor and a
 * MediaStreamTrackGenerator.
 */
export class VideoFilter {
  /** @type {AbortController|null} */
  #run = null;
  /** @type {MediaStreamTrack|null} */
  #out = null;

  constructor(filter) {
    if (!filter || typeof filter !== 'object') throw invalidParameter('applyVideoFilter: expected {type, ...}');
    if (filter.type === 'backgroundReplacement') {
      throw notSupported('applyVideoFilter: backgroundReplacement needs a segmentation model, which Crossbar does not ship');
    }
    if (filter.type !== 'backgroundBlur') throw invalidParameter(`applyVideoFilter: unknown filter type ${filter.type}`);
    const strength = filter.blurStrength || 'low';
    if (!(strength in BLUR)) throw invalidParameter(`applyVideoFilter: blurStrength ${strength}`);
    if (!hasMediaProcessorSupport()) throw notSupported('applyVideoFilter: this browser has no MediaStreamTrackProcessor');
    this.filter = { type: filter.type, blurStrength: strength };
  }

  // setTrack starts blurring track and resolves with the blurred track.
  async setTrack(track) {
    this.destroy();
    const run = new AbortController();
    const input = new MediaStreamTrackProcessor({ track });
    const output = new MediaStreamTrackGenerator({ kind: 'video' });
    const canvas = new OffscreenCanvas(1, 1);
    const ctx = canvas.getContext('2d');
    const radius = BLUR[this.filter.blurStrength];
    const blur = new TransformStream({
      transform(frame, out) {
        const { displayWidth: w, displayHeight: h, timestamp } = frame;
        if (canvas.width !== w || canvas.height !== h) [canvas.width, canvas.height] = [w, h];
        ctx.filter = `blur(${Math.max(1, Math.round((radius * w) / 640))}px)`;
        ctx.drawImage(frame, 0, 0);
        frame.close();
        out.enqueue(new VideoFrame(canvas, { timestamp }));
      },
    });
    input.readable.pipeThrough(blur, { signal: run.signal }).pipeTo(output.writable, { signal: run.signal }).catch(() => {});
    this.#run = run;
    this.#out = output;
    return output;
  }

  destroy() {
    if (this.#run) this.#run.abort();
    if (this.#out) this.#out.stop();
    this.#run = this.#out = null;
  }
}

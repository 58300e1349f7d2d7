// @ts-check
// Capturing media from OpenTok's options: camera, microphone, screen or
// tracks of the app's own.

import { OTError, invalidParameter } from './errors.js';

const RESOLUTIONS = ['1920x1080', '1280x960', '1280x720', '640x480', '640x360', '320x240', '320x180'];
const SCREEN = ['screen', 'window', 'application', 'browser'];

export function mediaError(err, screen) {
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
/**
 * @typedef {object} Capture
 * @property {boolean} screen
 * @property {DisplayMediaStreamOptions|null} display
 * @property {MediaTrackConstraints|MediaStreamTrack|false} audio
 * @property {MediaTrackConstraints|MediaStreamTrack|false} video
 *
 * @returns {Capture}
 */
export function captureOptions(p) {
  if ('audio' in p || 'video' in p) {
    throw invalidParameter('expected OpenTok\'s options (audioSource, videoSource, resolution, frameRate...), not MediaStreamConstraints');
  }
  if (p.resolution && !RESOLUTIONS.includes(p.resolution)) throw invalidParameter(`resolution ${p.resolution}`);
  const want = (src) => src !== null && src !== false;
  const screen = SCREEN.includes(p.videoSource);
  /** @type {Capture} */
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
    if (p.enableStereo) out.audio.channelCount = { ideal: 2 };
  }
  return out;
}

// capture gets the tracks captureOptions resolved, audio first. Media
// errors become OTErrors (code 1500).
/** @param {Capture} c */
export async function capture(c) {
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

// @ts-check
// Devices: the cameras and microphones a publisher can switch to, and the
// audio output every subscriber plays on (OT.setAudioOutputDevice).

import { subscribers } from './collection.js';
import { OTError, invalidParameter, notSupported, withCallback } from './errors.js';
import { capture, captureOptions } from './media.js';

/** @type {string|undefined} the audio output chosen with setAudioOutputDevice */
let audioOutput;

async function devicesOf(kind) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) throw notSupported('this browser cannot list its devices');
  return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);
}

// getDevices lists the cameras and microphones (OT.getDevices).
export function getDevices(cb) {
  const p = Promise.all([devicesOf('audioinput'), devicesOf('videoinput')]).then(([audio, video]) => [
    ...audio.map((d) => ({ kind: 'audioInput', deviceId: d.deviceId, label: d.label })),
    ...video.map((d) => ({ kind: 'videoInput', deviceId: d.deviceId, label: d.label })),
  ]);
  return withCallback(p, cb);
}

// getAudioOutputDevices lists the speakers and headphones
// (OT.getAudioOutputDevices): {deviceId, label} each.
export async function getAudioOutputDevices() {
  return (await devicesOf('audiooutput')).map((d) => ({ deviceId: d.deviceId, label: d.label }));
}

function canChooseOutput() {
  return typeof HTMLMediaElement.prototype.setSinkId === 'function';
}

// setAudioOutputDevice plays every subscriber's audio, now and later, on
// the audio output deviceId (OT.setAudioOutputDevice). The browser must be
// able to choose (HTMLMediaElement.setSinkId: Chromium, Firefox from 116).
export async function setAudioOutputDevice(deviceId) {
  if (!canChooseOutput()) throw notSupported('setAudioOutputDevice: this browser cannot choose where audio plays (no setSinkId)');
  if (typeof deviceId !== 'string') throw invalidParameter('setAudioOutputDevice: the device id is not a string');
  const outputs = await getAudioOutputDevices();
  if (!outputs.some((d) => d.deviceId === deviceId)) throw invalidParameter(`setAudioOutputDevice: no audio output ${deviceId}`);
  audioOutput = deviceId;
  await Promise.all(subscribers.map((s) => s.playOn(deviceId)));
}

// getActiveAudioOutputDevice resolves with the audio output subscribers
// play on (OT.getActiveAudioOutputDevice): the one set, else the
// browser's default.
export async function getActiveAudioOutputDevice() {
  const outputs = await getAudioOutputDevices();
  const id = audioOutput || 'default';
  return outputs.find((d) => d.deviceId === id) || outputs[0] || { deviceId: id, label: '' };
}

// playOnChosenOutput plays a new subscriber's element on the audio
// output chosen with setAudioOutputDevice, if any.
export function playOnChosenOutput(element) {
  if (audioOutput === undefined || !canChooseOutput()) return Promise.resolve();
  return element.setSinkId(audioOutput);
}

/**
 * sourceTrack resolves src, a deviceId or a MediaStreamTrack given to
 * Publisher.setAudioSource or setVideoSource, into a track of kind,
 * captured with the publisher's properties (resolution, frame rate, audio
 * processing) when it is a device. owned says whether the publisher
 * captured it, and must stop it.
 * @param {'audio'|'video'} kind
 * @returns {Promise<{track: MediaStreamTrack, owned: boolean}>}
 */
export async function sourceTrack(kind, src, props) {
  if (src instanceof MediaStreamTrack) {
    if (src.kind !== kind || src.readyState === 'ended') throw invalidSource(kind, `the track is not a live ${kind} track`);
    return { track: src, owned: false };
  }
  if (typeof src !== 'string' || !src) throw invalidSource(kind, 'expected a device id or a MediaStreamTrack');
  const opts = { ...props, audioSource: null, videoSource: null, [`${kind}Source`]: src };
  try {
    const [track] = await capture(captureOptions(opts));
    return { track, owned: true };
  } catch (err) {
    throw kind === 'video' ? new OTError('OT_SET_VIDEO_SOURCE_FAILURE', 1040, `setVideoSource: ${err.message}`) : err;
  }
}

export function invalidSource(kind, why) {
  return kind === 'video' ? new OTError('OT_INVALID_VIDEO_SOURCE', 1041, `setVideoSource: ${why}`) : invalidParameter(`setAudioSource: ${why}`);
}

// nextCamera returns the device id of the camera after current among the
// browser's cameras, or undefined without cameras.
export async function nextCamera(current) {
  const cams = await devicesOf('videoinput');
  if (!cams.length) return undefined;
  return cams[(cams.findIndex((c) => c.deviceId === current) + 1) % cams.length].deviceId;
}

// @ts-check
// End-to-end encryption (OpenTok's encryptionSecret option).

import { OTError, notSupported } from './errors.js';

// hasEndToEndEncryptionSupport reports whether this browser can seal and
// open encoded frames (OT.hasEndToEndEncryptionSupport): it needs
// RTCRtpScriptTransform, workers and WebCrypto (Chromium, Firefox, Safari).
export function hasEndToEndEncryptionSupport() {
  return typeof RTCRtpScriptTransform === 'function' && typeof Worker === 'function' && Boolean(globalThis.crypto && crypto.subtle);
}

/*
 * Each encoded frame is sealed with AES-GCM under a key derived from the
 * secret, in a worker behind RTCRtpScriptTransform (Chromium and Firefox
 * alike), so that the server forwards what it cannot read. A frame's first
 * bytes stay clear for the server and the packetizers: VP8's payload header
 * (10 bytes of a key frame, 3 of another) and Opus's TOC byte. A sealed
 * frame is: clear bytes | ciphertext and tag | 12-byte IV | count of clear
 * bytes. H.264's packetizer parses the frame itself: E2EE needs VP8 or VP9.
 */
const E2EE_WORKER = `'use strict';
let key = null; // a promise of the AES-GCM key
const derive = async (secret) => {
  const text = new TextEncoder();
  const raw = await crypto.subtle.importKey('raw', text.encode(secret), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: text.encode('crossbar e2ee'), iterations: 100000 },
    raw, { name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
};
onmessage = (e) => { key = derive(e.data.secret); };
async function seal(frame) {
  const data = new Uint8Array(frame.data);
  const n = Math.min(data.length, frame.type === 'key' ? 10 : frame.type === 'delta' ? 3 : 1);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: data.subarray(0, n) }, await key, data.subarray(n)));
  const out = new Uint8Array(n + sealed.length + 13);
  out.set(data.subarray(0, n));
  out.set(sealed, n);
  out.set(iv, n + sealed.length);
  out[out.length - 1] = n;
  frame.data = out.buffer;
}
async function open(frame) {
  const data = new Uint8Array(frame.data);
  const n = data[data.length - 1];
  if (data.length < n + 29) throw new Error('not a sealed frame');
  const iv = data.subarray(data.length - 13, data.length - 1);
  const plain = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: data.subarray(0, n) }, await key, data.subarray(n, data.length - 13)));
  const out = new Uint8Array(n + plain.length);
  out.set(data.subarray(0, n));
  out.set(plain, n);
  frame.data = out.buffer;
}
onrtctransform = ({ transformer: t }) => {
  const { operation, stream } = t.options;
  let matched; // whether the last frame opened, reported when it changes
  t.readable.pipeThrough(new TransformStream({
    async transform(frame, out) {
      if (!frame.data.byteLength) return out.enqueue(frame);
      if (operation === 'encrypt') {
        await seal(frame);
        return out.enqueue(frame);
      }
      const ok = await open(frame).then(() => true, () => false);
      if (ok) out.enqueue(frame);
      if (ok !== matched) postMessage({ stream, matched: (matched = ok) });
    },
  })).pipeTo(t.writable);
};
`;

/**
 * Encryption seals the frames a session sends and opens those it
 * receives, with one worker for all of them. onMatch(streamId, matched)
 * is called when the frames of a received stream start or stop opening.
 */
export class Encryption {
  constructor(secret, onMatch) {
    if (!hasEndToEndEncryptionSupport()) {
      throw notSupported('encryptionSecret: this browser cannot transform encoded media (no RTCRtpScriptTransform)');
    }
    const url = URL.createObjectURL(new Blob([E2EE_WORKER], { type: 'text/javascript' }));
    this.worker = new Worker(url);
    URL.revokeObjectURL(url);
    this.worker.onmessage = (e) => onMatch(e.data.stream, e.data.matched);
    this.setSecret(secret);
  }

  setSecret(secret) {
    this.worker.postMessage({ secret });
  }

  // seal encrypts what the transceivers send.
  seal(transceivers) {
    for (const t of transceivers) t.sender.transform = new RTCRtpScriptTransform(this.worker, { operation: 'encrypt' });
  }

  // open decrypts what a receiver of a stream receives.
  open(receiver, streamId) {
    receiver.transform = new RTCRtpScriptTransform(this.worker, { operation: 'decrypt', stream: streamId });
  }

  close() {
    this.worker.terminate();
  }
}

// checkSecret throws OpenTok's error for a secret that is not a string of
// 8 to 256 characters.
export function checkSecret(secret) {
  if (typeof secret !== 'string' || secret.length < 8 || secret.length > 256) {
    throw new OTError('OT_INVALID_ENCRYPTION_SECRET', 1011, 'the encryption secret is not a string of 8 to 256 characters');
  }
}

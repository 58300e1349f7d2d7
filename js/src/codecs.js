// @ts-check
// Video codecs: what this browser decodes, and the session's codec first.

// ROUTED are the video codecs the server forwards.
/** @type {('VP8'|'H264'|'VP9')[]} */
const ROUTED = ['VP8', 'H264', 'VP9'];

/** @returns {('VP8'|'H264'|'VP9')[]} */
function codecNames(caps) {
  const names = caps ? caps.codecs.map((c) => c.mimeType.replace(/^video\//i, '').toUpperCase()) : [];
  return ROUTED.filter((n) => names.includes(n));
}

/**
 * decodableCodecs returns the names of the video codecs this browser
 * decodes, which the server weighs in a session whose codec is what every
 * client decodes. With end-to-end encryption, H.264 is left out: its
 * sealed frames cannot be packetized (see Encryption).
 * @param {boolean} e2ee
 * @returns {string[]}
 */
export function decodableCodecs(e2ee) {
  const caps = typeof RTCRtpReceiver.getCapabilities === 'function' && RTCRtpReceiver.getCapabilities('video');
  const names = caps ? codecNames(caps) : ['VP8'];
  return e2ee ? names.filter((n) => n !== 'H264') : names;
}

/**
 * getSupportedCodecs resolves with the video codecs this browser encodes
 * and decodes among those the server forwards (OT.getSupportedCodecs).
 * @returns {ReturnType<typeof OT.getSupportedCodecs>}
 */
export async function getSupportedCodecs() {
  const caps = (cls) => (typeof cls.getCapabilities === 'function' ? cls.getCapabilities('video') : null);
  return { videoEncoders: codecNames(caps(RTCRtpSender)), videoDecoders: codecNames(caps(RTCRtpReceiver)) };
}

/**
 * preferCodec puts codec (a name such as 'H264') first in the video
 * transceivers' offers, keeping the others after it: the server's answer
 * accepts the session's codec alone, and the browser then need not have
 * offered it first.
 * @param {RTCRtpTransceiver[]} transceivers
 * @param {string|undefined} codec
 */
export function preferCodec(transceivers, codec) {
  if (!codec || typeof RTCRtpTransceiver.prototype.setCodecPreferences !== 'function') return;
  const mime = `video/${codec}`.toLowerCase();
  const caps = RTCRtpReceiver.getCapabilities('video');
  if (!caps) return;
  const codecs = caps.codecs;
  const ordered = [...codecs.filter((c) => c.mimeType.toLowerCase() === mime), ...codecs.filter((c) => c.mimeType.toLowerCase() !== mime)];
  for (const t of transceivers) if (t.sender.track && t.sender.track.kind === 'video') t.setCodecPreferences(ordered);
}

/**
 * svcModes resolves with the scalability modes of spatial layers the
 * browser can send in the session's video codec (codec), among those the
 * server forwards: L2T3_KEY and L3T3_KEY of VP9. Chromium can (though
 * RTCRtpSender.getCapabilities does not list them); Firefox cannot.
 * @param {string|undefined} codec
 * @returns {Promise<string[]>}
 */
export async function svcModes(codec) {
  if (codec !== 'VP9' || !navigator.mediaCapabilities) return [];
  const modes = ['L2T3_KEY', 'L3T3_KEY'];
  const video = { contentType: 'video/VP9', width: 1280, height: 720, bitrate: 1e6, framerate: 30 };
  const supported = await Promise.all(
    modes.map((scalabilityMode) =>
      navigator.mediaCapabilities.encodingInfo(/** @type {any} */ ({ type: 'webrtc', video: { ...video, scalabilityMode } })).then(
        (r) => r.supported,
        () => false,
      ),
    ),
  );
  return modes.filter((_, i) => supported[i]);
}

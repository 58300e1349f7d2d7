// @ts-check
// Opus settings of a publisher (enableStereo, audioBitrate, enableDtx),
// written into the SDP: a browser encodes audio as the other end's
// description asks (stereo=1, maxaveragebitrate, usedtx=1), and decodes
// it as its own says (stereo=1 to play both channels).

/**
 * opusParams returns the Opus format parameters a publisher's properties
 * ask for. In-band FEC (useinbandfec=1) is always asked for: the audio
 * survives the loss of a packet where the browser can send it.
 * @returns {Record<string, string>}
 */
export function opusParams(props) {
  const out = { useinbandfec: '1' };
  if (props.enableStereo) Object.assign(out, { stereo: '1', 'sprop-stereo': '1' });
  const rate = Number(props.audioBitrate);
  if (props.audioBitrate !== undefined && rate >= 6000 && rate <= 510000) out.maxaveragebitrate = String(Math.round(rate));
  if (props.enableDtx) out.usedtx = '1';
  return out;
}

/**
 * tuneOpus returns sdp with the Opus format parameters of each audio
 * m-section set to paramsOf(mid), where that returns any; the section's
 * other parameters stay.
 * @param {string} sdp
 * @param {(mid: string) => Record<string, string>|undefined} paramsOf
 */
export function tuneOpus(sdp, paramsOf) {
  const sections = sdp.split(/\r\n(?=m=)/);
  return sections
    .map((section) => {
      if (!section.startsWith('m=audio')) return section;
      const mid = (section.match(/\r\na=mid:(\S+)/) || [])[1];
      const pt = (section.match(/\r\na=rtpmap:(\d+) opus\/48000/i) || [])[1];
      const params = mid !== undefined && pt && paramsOf(mid);
      if (!params) return section;
      const fmtp = new RegExp(`\\r\\na=fmtp:${pt} ([^\\r]*)`);
      const found = section.match(fmtp);
      const merged = new Map((found ? found[1].split(';') : []).filter(Boolean).map((kv) => /** @type {[string, string]} */ (kv.trim().split('=', 2))));
      for (const [k, v] of Object.entries(params)) merged.set(k, v);
      const line = `\r\na=fmtp:${pt} ${[...merged].map(([k, v]) => `${k}=${v}`).join(';')}`;
      if (found) return section.replace(fmtp, line);
      return section.replace(new RegExp(`\\r\\na=rtpmap:${pt} [^\\r]*`), (m) => m + line);
    })
    .join('\r\n');
}

/**
 * receiveStereo returns an answer that asks for stereo Opus on every audio
 * m-section: the browser then plays both channels of a stereo stream (and
 * the one of a mono stream in both).
 * @param {string} sdp
 */
export function receiveStereo(sdp) {
  return tuneOpus(sdp, () => ({ stereo: '1' }));
}

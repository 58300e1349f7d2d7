// @ts-check
// Statistics: OpenTok's getStats and getRtcStatsReport from WebRTC's.

// statsOf sums the RTP statistics of some senders or receivers into
// OpenTok's shape.
export async function statsOf(parts, direction) {
  const bytes = direction === 'out' ? 'bytesSent' : 'bytesReceived';
  const packets = direction === 'out' ? 'packetsSent' : 'packetsReceived';
  const out = { timestamp: Date.now() };
  for (const kind of ['audio', 'video']) out[kind] = { [bytes]: 0, packetsLost: 0, [packets]: 0 };
  out.video.frameRate = 0;
  for (const part of parts) {
    if (!part.track) continue;
    const report = await part.getStats();
    report.forEach((s) => {
      const kind = s.kind || s.mediaType;
      if (!out[kind]) return;
      if (s.type === (direction === 'out' ? 'outbound-rtp' : 'inbound-rtp')) {
        out[kind][bytes] += s[bytes] || 0;
        out[kind][packets] += s[packets] || 0;
        if (direction === 'in') out[kind].packetsLost += s.packetsLost || 0;
        if (kind === 'video') out.video.frameRate = s.framesPerSecond || 0;
        out.timestamp = s.timestamp;
      }
      if (s.type === 'remote-inbound-rtp' && direction === 'out') out[kind].packetsLost += s.packetsLost || 0;
    });
  }
  return out;
}

// mergeReports merges RTCStatsReports into one map.
export async function mergeReports(parts) {
  const all = new Map();
  for (const p of parts) (await p.getStats()).forEach((v, k) => all.set(k, v));
  return all;
}

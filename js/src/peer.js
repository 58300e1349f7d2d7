// @ts-check
// Peer connections and their negotiation.

import { receiveStereo } from './opus.js';

/**
 * PeerLink is one peer connection: with the server in routed sessions
 * (the publisher PC and the subscriber PC), with another client in relayed
 * ones (one per stream and subscriber). It sends its ICE candidates with
 * sendCandidate once its description has gone to the other end, and runs
 * negotiations one at a time.
 */
export class PeerLink {
  #chain = Promise.resolve();
  #described = false;
  #candidates = [];
  /** @type {string|undefined} in relayed sessions, the other client's connection id */
  peer;
  /** @type {((fields: object) => void)|undefined} in relayed sessions, sends the other client a "relay" message */
  relay;
  /** @type {import('./restart.js').IceWatch|undefined} in routed sessions, restarts ICE: closed with the link */
  watch;

  /** @param {RTCConfiguration} config */
  constructor(config, sendCandidate) {
    this.sendCandidate = sendCandidate;
    this.pc = new RTCPeerConnection(config);
    this.pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return;
      if (this.#described) sendCandidate(e.candidate.toJSON());
      else this.#candidates.push(e.candidate.toJSON());
    };
  }

  // hold holds the candidates gathered from now on until described: those
  // of an ICE restart belong to the description that goes next.
  hold() {
    this.#described = false;
  }

  // described notes that the local description was sent.
  described() {
    this.#described = true;
    for (const c of this.#candidates.splice(0)) this.sendCandidate(c);
  }

  // serially runs fn after the negotiations queued before it.
  serially(fn) {
    const p = this.#chain.then(fn);
    this.#chain = p.catch(() => {});
    return p;
  }

  close() {
    if (this.watch) this.watch.close();
    this.pc.close();
  }
}

// addTracks adds a send-only transceiver to pc for each track of a
// publisher, and returns them. Video sent to the server (routed) may go
// in layers, simulcast or spatial (svcModes: see Publisher.encodings);
// peer to peer it goes in one.
export function addTracks(pc, p, routed, svcModes = []) {
  const ms = p.mediaStream;
  return ms.getTracks().map((track) => {
    const init = { direction: 'sendonly', streams: [ms] };
    if (track.kind === 'video') init.sendEncodings = p.encodings(track, routed, svcModes);
    return pc.addTransceiver(track, init);
  });
}

// answerOffer applies a remote offer to pc and returns its answer, set as
// the local description: one that plays stereo audio in stereo, where the
// browser takes it (see receiveStereo).
export async function answerOffer(pc, sdp) {
  await pc.setRemoteDescription({ type: 'offer', sdp });
  const answer = await pc.createAnswer();
  await pc.setLocalDescription({ type: 'answer', sdp: receiveStereo(answer.sdp) }).catch(() => pc.setLocalDescription(answer));
  return pc.localDescription.sdp;
}

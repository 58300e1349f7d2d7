// @ts-check
// ICE restart: a client whose network changes (Wi-Fi to a hotspot, say)
// keeps its streams and subscriptions. When a peer connection with the
// server loses its path, the client restarts ICE on it, with new
// credentials and the candidates of the network it has now; after a
// resumed signaling link it restarts at once, as a network change breaks
// both. The server may notice first, as it hears nothing from the client
// ('pathLost'): a browser takes 5-8 s to call a silent path disconnected.

import { log } from './log.js';

// RETRY is how long one restart is given before the next, in ms.
const RETRY = 5000;

// POLL is how often, in ms, a path lost without the browser noticing is
// checked for a new candidate pair.
const POLL = 250;

/**
 * IceWatch restarts ICE on a routed peer connection whenever it loses its
 * path, every RETRY ms until the path is back, and tells onLost and onBack.
 */
export class IceWatch {
  #timer = 0;
  #poll = 0;
  #lost = false;
  #closed = false;

  /**
   * @param {RTCPeerConnection} pc
   * @param {() => Promise<unknown>} restart restarts ICE once
   * @param {{onLost?: () => void, onBack?: () => void}} [on]
   */
  constructor(pc, restart, on = {}) {
    this.pc = pc;
    this.restart = restart;
    this.on = on;
    pc.addEventListener('iceconnectionstatechange', () => this.#changed());
  }

  // lost is true while the path is lost.
  get lost() {
    return this.#lost;
  }

  #changed() {
    if (this.#closed) return;
    const st = this.pc.iceConnectionState;
    if (st === 'disconnected' || st === 'failed') this.lose();
    else if (st === 'connected' || st === 'completed') this.#back();
  }

  // lose takes the path for lost, as the server says it is: it restarts
  // ICE now and until the path is back. The browser may still call the
  // peer connection connected, on its old candidate pair: the path is back
  // when it is connected on another one.
  lose() {
    if (this.#closed || this.#lost) return;
    this.#lost = true;
    if (this.on.onLost) this.on.onLost();
    this.now();
    selectedPair(this.pc).then((dead) => {
      const check = async () => {
        this.#poll = 0;
        if (!this.#lost || this.#closed) return;
        const st = this.pc.iceConnectionState;
        const pair = await selectedPair(this.pc);
        if (pair && pair !== dead && (st === 'connected' || st === 'completed')) this.#back();
        else this.#poll = setTimeout(check, POLL);
      };
      if (dead) this.#poll = setTimeout(check, POLL);
    });
  }

  #back() {
    if (!this.#lost) return;
    this.#lost = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#poll);
    this.#timer = this.#poll = 0;
    if (this.on.onBack) this.on.onBack();
  }

  // now restarts ICE at once, and again every RETRY ms while the path is
  // lost.
  now() {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.restart().catch((err) => log.warn('ICE restart failed:', err.message));
    this.#timer = setTimeout(() => {
      this.#timer = 0;
      if (this.#lost) this.now();
    }, RETRY);
  }

  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#poll);
  }
}

/**
 * selectedPair resolves to the id of the candidate pair pc sends on, or ''
 * if its statistics do not say (some browsers name none).
 * @param {RTCPeerConnection} pc
 * @returns {Promise<string>}
 */
async function selectedPair(pc) {
  let id = '';
  try {
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) id = r.selectedCandidatePairId;
      else if (r.type === 'candidate-pair' && r.selected && !id) id = r.id; // Firefox
    });
  } catch {
    // closed meanwhile
  }
  return id;
}

// @ts-check
// ICE restart: a client whose network changes (Wi-Fi to a hotspot, say)
// keeps its streams and subscriptions. When a peer connection with the
// server loses its path, the client restarts ICE on it, with new
// credentials and the candidates of the network it has now; after a
// resumed signaling link it restarts at once, as a network change breaks
// both.

import { log } from './log.js';

// RETRY is how long one restart is given before the next, in ms.
const RETRY = 5000;

/**
 * IceWatch restarts ICE on a routed peer connection whenever it loses its
 * path, every RETRY ms until the path is back, and tells onLost and onBack.
 */
export class IceWatch {
  #timer = 0;
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
    if (st === 'disconnected' || st === 'failed') {
      if (!this.#lost) {
        this.#lost = true;
        if (this.on.onLost) this.on.onLost();
        this.now();
      }
    } else if ((st === 'connected' || st === 'completed') && this.#lost) {
      this.#lost = false;
      clearTimeout(this.#timer);
      this.#timer = 0;
      if (this.on.onBack) this.on.onBack();
    }
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
  }
}

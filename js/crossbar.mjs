// Crossbar browser client as an ES module:
//
//     import OT, { initSession, initPublisher } from '/crossbar/crossbar.mjs';
//
// It loads crossbar.js, from beside this file, as a classic script (so that
// the client finds the signaling URL from its own address, as the script tag
// does), unless the page already has it, and exports its global OT.
if (!globalThis.OT) {
  await new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = new URL('./crossbar.js', import.meta.url).href;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${script.src}`));
    document.head.append(script);
  });
}

const OT = globalThis.OT;

export default OT;
export const {
  initSession,
  initPublisher,
  checkSystemRequirements,
  checkScreenSharingCapability,
  getDevices,
  getUserMedia,
  unblockAudio,
  setLogLevel,
  Event,
  EventEmitter,
  OTError,
  Session,
  Publisher,
  Subscriber,
  Connection,
  Stream,
  ExceptionCodes,
  sessions,
  publishers,
  subscribers,
} = OT;

// @ts-check
// The entry point of crossbar.mjs, the ES module:
//
//     import OT, { initSession, initPublisher } from '/crossbar/crossbar.mjs';
//
// Its default export is OT, also the global OT unless the page has one
// already (from crossbar.js: then the page has two clients).

import OT from './ot.js';
import { setClientURL } from './signaling.js';

export * from './ot.js';
export default OT;

setClientURL(import.meta.url);
window.OT ??= OT;

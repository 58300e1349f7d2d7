// @ts-check
// The entry point of crossbar.js, which defines the global OT. Load it with
// a classic script tag from the path where the host mounted crossbar's
// handler:
//
//     <script src="/crossbar/crossbar.js"></script>

import OT from './ot.js';
import { setClientURL } from './signaling.js';

setClientURL(document.currentScript instanceof HTMLScriptElement ? document.currentScript.src : '');
window.OT = OT;

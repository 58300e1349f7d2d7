// @ts-check
// The client's console output, as much of it as OT.setLogLevel asks for.

// levels are the levels of OT.setLogLevel, OT's constants.
export const levels = /** @type {const} */ ({ NONE: 0, ERROR: 1, WARN: 2, INFO: 3, LOG: 4, DEBUG: 5 });

/** @type {number} */
let logLevel = levels.ERROR;

/** @param {number|string} level */
export function setLogLevel(level) {
  logLevel = Number(level);
}

export const log = {
  error: (...a) => logLevel >= levels.ERROR && console.error('OT:', ...a),
  warn: (...a) => logLevel >= levels.WARN && console.warn('OT:', ...a),
  debug: (...a) => logLevel >= levels.DEBUG && console.debug('OT:', ...a),
};

// logMessage is OT.log: it writes at the level LOG and above.
export function logMessage(...args) {
  if (logLevel >= levels.LOG) console.log('OT:', ...args);
}

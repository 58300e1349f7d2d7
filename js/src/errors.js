// @ts-check
// Errors: OTError, its codes, and OpenTok-style completion callbacks.

/** OTError is every error the client reports: {name, code, message}. */
export class OTError extends Error {
  constructor(name, code, message) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

export const ExceptionCodes = {
  JS_EXCEPTION: 2000,
  AUTHENTICATION_ERROR: 1004,
  INVALID_SESSION_ID: 1005,
  CONNECT_FAILED: 1006,
  NOT_CONNECTED: 1010,
  INVALID_PARAMETER: 1011,
  CONNECTION_LIMIT_EXCEEDED: 1027,
  UNABLE_TO_PUBLISH: 1500,
  UNABLE_TO_SUBSCRIBE: 1501,
  UNSUPPORTED_CODEC: 1502,
  UNABLE_TO_FORCE_DISCONNECT: 1520,
  UNABLE_TO_FORCE_UNPUBLISH: 1530,
  STREAM_NOT_FOUND: 1535,
  UNABLE_TO_FORCE_MUTE: 1540,
  PUBLISHER_ICE_WORKFLOW_FAILED: 1553,
  SUBSCRIBER_ICE_WORKFLOW_FAILED: 1554,
  UNEXPECTED_SERVER_RESPONSE: 2001,
};

export function invalidParameter(message) {
  return new OTError('OT_INVALID_PARAMETER', 1011, message);
}

// notSupported is the error of a feature this browser lacks.
export function notSupported(message) {
  return new OTError('OT_NOT_SUPPORTED', 2000, message);
}

export function notConnected(what) {
  return new OTError('OT_NOT_CONNECTED', 1010, `${what}: the session is not connected`);
}

// fromServer converts a protocol error object into an OTError.
export function fromServer(e) {
  if (!e) return new OTError('OT_UNEXPECTED_SERVER_RESPONSE', 2001, 'unexpected server response');
  return new OTError(e.name || 'OT_ERROR', e.code, e.message || e.name);
}

// withCallback reports the outcome of promise to an OpenTok-style
// callback, if there is one, and returns the promise.
export function withCallback(promise, cb) {
  if (typeof cb === 'function') {
    promise.then((v) => cb(undefined, v), (err) => cb(err));
  }
  return promise;
}

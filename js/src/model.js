// @ts-check
// The session's model: connections and streams, as the server describes them.

/** Connection is one client's presence in a session. */
export class Connection {
  constructor(c) {
    this.connectionId = c.connectionId;
    this.id = c.connectionId;
    this.creationTime = c.creationTime;
    this.data = c.data || '';
    /** @type {OT.Connection['permissions']} the session's own connection's */
    this.permissions = undefined;
  }
}

/** Stream is one published audio/video signal. */
export class Stream {
  constructor(s, connection) {
    this.streamId = s.streamId;
    this.id = s.streamId;
    this.connection = connection;
    this.creationTime = s.creationTime;
    this.name = s.name || '';
    this.update(s);
  }

  update(s) {
    this.hasAudio = Boolean(s.hasAudio);
    this.hasVideo = Boolean(s.hasVideo);
    this.hasCaptions = Boolean(s.hasCaptions);
    this.videoType = s.videoType || undefined;
    this.videoDimensions = s.videoDimensions ? { ...s.videoDimensions } : undefined;
  }
}

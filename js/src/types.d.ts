// TypeScript declarations of the Crossbar browser client (crossbar.js, the
// global OT, and crossbar.mjs, its ES module form). The API is OpenTok's.

declare namespace OT {
  const version: string;

  /** Every error the client reports. */
  class OTError extends Error {
    name: string;
    code: number;
  }

  type Callback<T = void> = (error: OTError | undefined, value?: T) => void;

  class Event<Type extends string = string, Target = any> {
    type: Type;
    cancelable: boolean;
    target: Target;
    preventDefault(): void;
    isDefaultPrevented(): boolean;
  }

  type Handler<E> = (event: E) => void;

  class EventEmitter<EventMap = Record<string, Event>> {
    on<K extends keyof EventMap & string>(type: K, handler: Handler<EventMap[K]>, context?: object): this;
    on(type: string, handler: Handler<Event>, context?: object): this;
    on(handlers: { [K in keyof EventMap]?: Handler<EventMap[K]> }, context?: object): this;
    once<K extends keyof EventMap & string>(type: K, handler: Handler<EventMap[K]>, context?: object): this;
    once(type: string, handler: Handler<Event>, context?: object): this;
    once(handlers: { [K in keyof EventMap]?: Handler<EventMap[K]> }, context?: object): this;
    off(type?: string, handler?: Handler<any>, context?: object): this;
    off(handlers: { [K in keyof EventMap]?: Handler<EventMap[K]> }, context?: object): this;
    addEventListener(type: string, handler: Handler<any>, context?: object): this;
    removeEventListener(type: string, handler?: Handler<any>, context?: object): this;
  }

  interface Collection<T> extends Iterable<T> {
    readonly length: number;
    get(id: string): T | undefined;
    has(id: string): boolean;
    find(filter?: string | ((item: T) => boolean) | Partial<T>): T | undefined;
    where(filter?: string | ((item: T) => boolean) | Partial<T>): T[];
    forEach(fn: (item: T) => void, context?: object): void;
    map<U>(fn: (item: T) => U, context?: object): U[];
    [Symbol.iterator](): Iterator<T>;
  }

  class Connection {
    connectionId: string;
    id: string;
    creationTime: number;
    data: string;
    /** Of the session's own connection (session.connection): what its token's role allows. */
    permissions?: { forceDisconnect: 0 | 1; forceUnpublish: 0 | 1; publish: 0 | 1; subscribe: 0 | 1 };
  }

  interface Dimensions {
    width: number;
    height: number;
  }

  class Stream {
    streamId: string;
    id: string;
    connection: Connection;
    creationTime: number;
    name: string;
    hasAudio: boolean;
    hasVideo: boolean;
    videoType?: 'camera' | 'screen' | 'custom';
    videoDimensions?: Dimensions;
    /** Its publisher publishes captions of its audio (publishCaptions). */
    hasCaptions: boolean;
  }

  type InsertMode = 'replace' | 'after' | 'before' | 'append';

  interface WidgetProperties {
    insertMode?: InsertMode;
    insertDefaultUI?: boolean;
    width?: number | string;
    height?: number | string;
    fitMode?: 'cover' | 'contain';
    style?: { nameDisplayMode?: 'auto' | 'off' | 'on' };
  }

  type Resolution = '1920x1080' | '1280x960' | '1280x720' | '640x480' | '640x360' | '320x240' | '320x180';

  /** What OT.getUserMedia and OT.initPublisher capture. */
  interface GetUserMediaProperties {
    /** A deviceId, a track, null or false for none, or 'screen' (also 'window', 'application', 'browser') to share the screen. */
    videoSource?: string | MediaStreamTrack | null | false;
    /** A deviceId, a track, or null or false for none. Default: the microphone, except for a screen share, which has none unless asked (publishAudio: true asks for the default microphone). */
    audioSource?: string | MediaStreamTrack | null | false;
    resolution?: Resolution;
    frameRate?: 30 | 15 | 7 | 1;
    maxResolution?: Dimensions;
    facingMode?: 'user' | 'environment' | 'left' | 'right';
    echoCancellation?: boolean;
    noiseSuppression?: boolean;
    autoGainControl?: boolean;
    disableAudioProcessing?: boolean;
  }

  interface PublisherProperties extends WidgetProperties, GetUserMediaProperties {
    name?: string;
    /** Default true, false for a screen share without an audioSource. */
    publishAudio?: boolean;
    publishVideo?: boolean;
    mirror?: boolean;
    /** Publish live captions of the audio (see Publisher.publishCaptions). Default false. */
    publishCaptions?: boolean;
    /** Send the video in simulcast layers (1/4, 1/2 and full size) that the server picks from per subscriber. Default: true for a camera, false otherwise. */
    simulcast?: boolean;
    /** Send stereo audio (Opus stereo=1), captured in two channels where the microphone has them; subscribers play both. */
    enableStereo?: boolean;
    /** The Opus bit rate, 6000 to 510000 bits a second (maxaveragebitrate); others are ignored. Default: the browser's. */
    audioBitrate?: number;
    /** Opus discontinuous transmission (usedtx=1): silence sends almost nothing. */
    enableDtx?: boolean;
    /** A filter to apply once the camera is captured: see Publisher.applyVideoFilter. */
    videoFilter?: VideoFilter;
    /** What the video is, for the browser's encoder: see Publisher.setVideoContentHint. */
    videoContentHint?: VideoContentHint;
  }

  /** MediaStreamTrack.contentHint: '' (none), motion, detail or text (these two keep the resolution and give up frames first). */
  type VideoContentHint = '' | 'motion' | 'detail' | 'text';

  /**
   * Processes a publisher's audio or video (OpenTok's, from
   * @vonage/media-processor's getConnector(), or your own): setTrack gets
   * the source track and resolves with the track to send instead.
   */
  interface MediaProcessorConnector {
    setTrack(track: MediaStreamTrack): Promise<MediaStreamTrack>;
    destroy(): void | Promise<void>;
  }

  /**
   * Crossbar has no segmentation model: 'backgroundBlur' blurs the whole
   * picture; 'backgroundReplacement' fails with OT_NOT_SUPPORTED.
   */
  type VideoFilter = { type: 'backgroundBlur'; blurStrength?: 'low' | 'high' } | { type: 'backgroundReplacement'; backgroundImgUrl: string };

  interface SubscriberProperties extends WidgetProperties {
    subscribeToAudio?: boolean;
    subscribeToVideo?: boolean;
    audioVolume?: number;
    preferredResolution?: Dimensions;
    preferredFrameRate?: number;
    /** Receive the stream's live captions (see Subscriber.subscribeToCaptions). Default false. */
    subscribeToCaptions?: boolean;
  }

  interface RtpStats {
    packetsLost: number;
  }

  /**
   * One item per peer connection carrying the stream: one without
   * connectionId in a routed session, one per subscriber (its connection)
   * in a relayed session.
   */
  interface PublisherStats {
    connectionId?: string;
    stats: {
      audio: RtpStats & { bytesSent: number; packetsSent: number };
      video: RtpStats & { bytesSent: number; packetsSent: number; frameRate: number };
      timestamp: number;
    };
  }

  interface SubscriberStats {
    audio: RtpStats & { bytesReceived: number; packetsReceived: number };
    video: RtpStats & { bytesReceived: number; packetsReceived: number; frameRate: number };
    timestamp: number;
  }

  type StreamEvent = Event & { stream: Stream; reason?: string };
  type AudioLevelEvent = Event & { audioLevel: number };
  type VideoElementEvent = Event & { element: HTMLVideoElement };
  type DimensionsEvent = Event & { oldValue: Dimensions; newValue: Dimensions };

  interface PublisherEvents {
    accessAllowed: Event;
    accessDenied: Event & { message: string };
    audioLevelUpdated: AudioLevelEvent;
    destroyed: Event & { reason: string };
    mediaStopped: Event & { track: MediaStreamTrack };
    muteForced: Event;
    streamCreated: StreamEvent;
    streamDestroyed: StreamEvent;
    videoDimensionsChanged: DimensionsEvent;
    videoElementCreated: VideoElementEvent;
  }

  class Publisher extends EventEmitter<PublisherEvents> {
    id: string;
    element?: HTMLElement;
    stream?: Stream;
    session?: Session;
    accessAllowed: boolean;
    publishAudio(on: boolean): this;
    publishVideo(on: boolean): this;
    /** Start or stop publishing live captions of the audio: while the session has them (the host's StartCaptions), the server transcribes it for the subscribers that ask. */
    publishCaptions(on: boolean): this;
    destroy(): this;
    getAudioSource(): MediaStreamTrack | undefined;
    getVideoSource(): { deviceId?: string; type: 'camera' | 'screen' | 'custom' | null; track: MediaStreamTrack | null };
    /** Switches the video to another camera (a deviceId) or a track of yours in the stream as it goes: no republishing. Fails with 1040 (OT_SET_VIDEO_SOURCE_FAILURE) for a screen share, 1041 (OT_INVALID_VIDEO_SOURCE) for a bad source. */
    setVideoSource(source: string | MediaStreamTrack): Promise<void>;
    /** Switches the audio to another microphone (a deviceId) or a track of yours in the stream as it goes. */
    setAudioSource(source: string | MediaStreamTrack): Promise<void>;
    /** Switches to the browser's next camera. */
    cycleVideo(): Promise<{ deviceId: string }>;
    /** Tells the encoder what the video is, for this source and the next; throws OT_INVALID_PARAMETER for another value. */
    setVideoContentHint(hint: VideoContentHint): void;
    getVideoContentHint(): VideoContentHint;
    /** Sends the video through connector (null: none). */
    setVideoMediaProcessorConnector(connector: MediaProcessorConnector | null): Promise<void>;
    /** Sends the audio through connector (null: none). */
    setAudioMediaProcessorConnector(connector: MediaProcessorConnector | null): Promise<void>;
    /** Needs OT.hasMediaProcessorSupport(); else fails with OT_NOT_SUPPORTED. */
    applyVideoFilter(filter: VideoFilter): Promise<void>;
    getVideoFilter(): VideoFilter | null;
    clearVideoFilter(): Promise<void>;
    getImgData(): string | null;
    getStats(callback?: Callback<PublisherStats[]>): Promise<PublisherStats[]>;
    getRtcStatsReport(): Promise<{ connectionId?: string; rtcStatsReport: Map<string, any> }[]>;
    videoWidth(): number;
    videoHeight(): number;
  }

  interface SubscriberEvents {
    audioBlocked: Event;
    audioUnblocked: Event;
    audioLevelUpdated: AudioLevelEvent;
    /** A caption of the stream's audio, while subscribed to its captions: partial ones (isFinal false) are replaced by the next, until a final one. */
    captionReceived: Event & { streamId: string; caption: string; isFinal: boolean };
    /** The subscriber's media path is back after `disconnected`. */
    connected: Event;
    destroyed: Event & { reason: string };
    /** The subscriber's media path was lost (a network change, say): it restarts and stays subscribed. */
    disconnected: Event;
    /** The stream's frames open with the session's encryption secret (again). */
    encryptionSecretMatch: Event;
    /** The stream's frames do not open with the session's encryption secret: its video and audio are dropped. */
    encryptionSecretMismatch: Event;
    videoDimensionsChanged: DimensionsEvent;
    videoDisabled: Event & { reason: 'publishVideo' | 'subscribeToVideo' | 'quality' };
    videoElementCreated: VideoElementEvent;
    videoEnabled: Event & { reason: 'publishVideo' | 'subscribeToVideo' | 'quality' };
  }

  class Subscriber extends EventEmitter<SubscriberEvents> {
    id: string;
    element?: HTMLElement;
    stream: Stream;
    subscribeToAudio(on: boolean): this;
    subscribeToVideo(on: boolean): this;
    setAudioVolume(volume: number): this;
    getAudioVolume(): number;
    /** Ask for the video layer closest to (and at least) this size; null for the highest. */
    setPreferredResolution(resolution: Dimensions | null): this;
    /** Ask for at least this frame rate (fewer temporal layers); null for the highest. */
    setPreferredFrameRate(frameRate: number | null): this;
    isAudioBlocked(): boolean;
    /** Start or stop receiving the stream's live captions (captionReceived events), whether or not its publisher publishes them now. */
    subscribeToCaptions(on: boolean): Promise<void>;
    isSubscribedToCaptions(): boolean;
    getImgData(): string | null;
    getStats(callback?: Callback<SubscriberStats>): Promise<SubscriberStats>;
    getRtcStatsReport(): Promise<Map<string, any>>;
    videoWidth(): number;
    videoHeight(): number;
  }

  interface Capabilities {
    publish: 0 | 1;
    subscribe: 0 | 1;
    signal: 0 | 1;
    forceDisconnect: 0 | 1;
    forceUnpublish: 0 | 1;
    forceMute: 0 | 1;
    supportsWebRTC: 0 | 1;
  }

  type SignalEvent = Event & { data: string; from: Connection | null };

  interface SessionEvents {
    sessionConnected: Event;
    sessionDisconnected: Event & { reason: string };
    sessionReconnecting: Event;
    sessionReconnected: Event;
    connectionCreated: Event & { connection: Connection };
    connectionDestroyed: Event & { connection: Connection; reason: string };
    streamCreated: StreamEvent;
    streamDestroyed: StreamEvent;
    streamPropertyChanged: Event & {
      stream: Stream;
      changedProperty: 'hasAudio' | 'hasVideo' | 'videoDimensions' | 'hasCaptions';
      oldValue: any;
      newValue: any;
    };
    signal: SignalEvent;
    muteForced: Event & { active: boolean };
    /** An archive of the session started (or was recording as one joined), or stopped. */
    archiveStarted: Event & { id: string; name: string };
    archiveStopped: Event & { id: string; name: string };
    [signalType: `signal:${string}`]: SignalEvent;
  }

  /**
   * A link that carries the signaling protocol's messages, in order, one
   * string each: a WebSocket, or an object of yours that behaves as one,
   * e.g. over a channel the app already has to its server (which serves it
   * with crossbar's Server.ServeTransport). The session sets the handlers.
   */
  interface SignalingLink {
    /** 0 connecting, 1 open (send works), 2 closing, 3 closed: as WebSocket's. */
    readonly readyState: number;
    send(data: string): void;
    /** close(1000) says goodbye; close() drops the link as a failed network would. */
    close(code?: number, reason?: string): void;
    /** Called once the link is open, unless it is open when the transport returns it. */
    onopen: ((event?: unknown) => void) | null;
    /** Called with each message, in order. */
    onmessage: ((event: { data: string }) => void) | null;
    /** Called once when the link has ended, whichever end ended it. */
    onclose: ((event?: unknown) => void) | null;
  }

  interface SessionOptions {
    /** The signaling WebSocket URL; by default "ws" beside crossbar.js. */
    url?: string;
    /**
     * Opens the signaling link instead of a WebSocket to url: called to
     * connect, and again for each attempt to resume after a link failed.
     * The session pings the server over it every 3 s.
     */
    transport?: () => SignalingLink;
    /** No connectionCreated/connectionDestroyed events, and only the connections that publish: for large sessions. */
    connectionEventsSuppressed?: boolean;
    /**
     * Turns on end-to-end encryption: the frames of every stream are sealed
     * with a key derived from this secret (8 to 256 characters), which the
     * server never sees; a subscriber with another secret decodes nothing.
     * Needs RTCRtpScriptTransform (Chromium, Firefox, Safari: see
     * OT.hasEndToEndEncryptionSupport) and a VP8 or VP9 session. A session
     * created end-to-end encrypted (e2ee) refuses to connect without it:
     * 6000, OT_ENCRYPTION_SECRET_MISSING.
     */
    encryptionSecret?: string;
    /** ICE servers and policy of the session's peer connections (OpenTok's configurable TURN). */
    iceConfig?: IceConfig;
  }

  interface IceConfig {
    /** 'all' (default): the server's ICE servers and customServers; 'custom': customServers alone. */
    includeServers?: 'all' | 'custom';
    /** 'relay': media through TURN only. Default 'all'. */
    transportPolicy?: 'all' | 'relay';
    customServers?: { urls: string | string[]; username?: string; credential?: string }[];
  }

  class Session extends EventEmitter<SessionEvents> {
    sessionId: string;
    connection?: Connection;
    capabilities: Partial<Capabilities>;
    connections: Collection<Connection>;
    streams: Collection<Stream>;
    currentState: 'disconnected' | 'connecting' | 'connected' | 'reconnecting';
    isConnected(): boolean;
    connect(token: string, callback?: Callback): Promise<void>;
    disconnect(): void;
    /** Changes the end-to-end encryption secret for what is sent and received from now on (before connect, turns encryption on). */
    setEncryptionSecret(secret: string): Promise<void>;
    /** Changes the ICE configuration: of the peer connections made from now on, and of the current ones from their next ICE restart. */
    setIceConfig(iceConfig: IceConfig): Promise<void>;
    publish(publisher: Publisher, callback?: Callback): Publisher;
    publish(target?: HTMLElement | string, properties?: PublisherProperties, callback?: Callback): Publisher;
    unpublish(publisher: Publisher): void;
    subscribe(stream: Stream, target?: HTMLElement | string, properties?: SubscriberProperties, callback?: Callback): Subscriber;
    subscribe(stream: Stream, target: HTMLElement | string, callback: Callback): Subscriber;
    subscribe(stream: Stream, callback: Callback): Subscriber;
    unsubscribe(subscriber: Subscriber): void;
    signal(signal: { type?: string; data?: string; to?: Connection | string; retryAfterReconnect?: boolean }, callback?: Callback): Promise<void>;
    forceDisconnect(connection: Connection | string, callback?: Callback): Promise<void>;
    forceUnpublish(stream: Stream | string, callback?: Callback): Promise<void>;
    forceMuteStream(stream: Stream | string): Promise<void>;
    forceMuteAll(excludedStreams?: (Stream | string)[]): Promise<void>;
    disableForceMute(): Promise<void>;
    getPublisherForStream(stream: Stream): Publisher | undefined;
    getSubscribersForStream(stream: Stream): Subscriber[];
  }

  const ExceptionCodes: Record<string, number>;
  const sessions: Collection<Session>;
  const publishers: Collection<Publisher>;
  const subscribers: Collection<Subscriber>;
  const NONE: 0, ERROR: 1, WARN: 2, INFO: 3, LOG: 4, DEBUG: 5;

  function initSession(apiKey: string, sessionId: string, options?: SessionOptions): Session;
  function initPublisher(target?: HTMLElement | string, properties?: PublisherProperties, callback?: Callback): Publisher;
  function initPublisher(target: HTMLElement | string | undefined, callback: Callback): Publisher;
  function checkSystemRequirements(): 0 | 1;
  function checkScreenSharingCapability(
    callback: (response: { supported: boolean; supportedSources: Record<string, boolean> }) => void,
  ): void;
  function getDevices(
    callback?: Callback<{ kind: 'audioInput' | 'videoInput'; deviceId: string; label: string }[]>,
  ): Promise<{ kind: 'audioInput' | 'videoInput'; deviceId: string; label: string }[]>;
  function getUserMedia(properties?: GetUserMediaProperties): Promise<MediaStream>;
  function getAudioOutputDevices(): Promise<{ deviceId: string; label: string }[]>;
  /** Plays every subscriber's audio, now and later, on this output. Fails with OT_NOT_SUPPORTED where the browser cannot choose (no HTMLMediaElement.setSinkId). */
  function setAudioOutputDevice(deviceId: string): Promise<void>;
  function getActiveAudioOutputDevice(): Promise<{ deviceId: string; label: string }>;
  /** The video codecs this browser encodes and decodes, among those the server forwards. */
  function getSupportedCodecs(): Promise<{ videoEncoders: ('VP8' | 'H264' | 'VP9')[]; videoDecoders: ('VP8' | 'H264' | 'VP9')[] }>;
  /** Whether applyVideoFilter works here (MediaStreamTrackProcessor: Chromium). Connectors of your own work anywhere. */
  function hasMediaProcessorSupport(): boolean;
  /** Whether the encryptionSecret option works here (RTCRtpScriptTransform). */
  function hasEndToEndEncryptionSupport(): boolean;
  /**
   * Signals through a reverse proxy of crossbar's handler at url (sessions
   * without a url option). Once, before any session or publisher: else
   * 2022 OT_PROXY_URL_ALREADY_SET_ERROR or 2021 OT_SET_PROXY_URL_TIMING_ERROR.
   */
  function setProxyUrl(url: string): void;
  function unblockAudio(): Promise<void>;
  function setLogLevel(level: number): void;
  function log(...args: any[]): void;
  function on(type: string, handler: Handler<Event>, context?: object): typeof OT;
  function once(type: string, handler: Handler<Event>, context?: object): typeof OT;
  function off(type?: string, handler?: Handler<Event>, context?: object): typeof OT;
}

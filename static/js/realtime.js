/**
 * Realtime browser SDK: channels, presence, history and direct messages over
 * Socket.IO, shaped like the hosted service's JavaScript SDK so application
 * code ports by swapping the import for this file.
 *
 * Load the pinned Socket.IO browser client first, then this file; it defines
 * one global, `Realtime`:
 *
 *   const client = new Realtime.Client({
 *     apiGroupBaseUrl: "https://example.com/api:AbC",
 *     realtimeConnectionHash: "…",
 *   });
 *   const channel = client.channel("marvel-chat-room", { presence: true });
 *   channel.on((frame) => console.info(frame));
 *   channel.message({ text: "hi" });
 */
(function (global) {
  "use strict";

  /** Every option of `Realtime.Client`, with its default. */
  const DEFAULTS = {
    // Origin of the realtime server, e.g. "https://rt.example.com". When
    // unset, the origin of apiGroupBaseUrl is used.
    instanceBaseUrl: null,
    // The workspace's API group, "<origin>/api:<key>"; used by get()/post().
    apiGroupBaseUrl: null,
    // The workspace's connection hash (required before the first channel()).
    realtimeConnectionHash: null,
    // An end user's auth token for authenticated channels; null: anonymous.
    realtimeAuthToken: null,
    // Token sent as "Authorization: Bearer" by get()/post(); null: none.
    authToken: null,
    // Socket.IO namespace and HTTP path of the realtime server.
    namespace: "/rt",
    path: "/socket.io",
    // WebSocket first; long-polling where WebSockets are blocked.
    transports: ["websocket", "polling"],
    // Passed through to Socket.IO, which does the reconnection back-off.
    reconnection: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 60000,
    randomizationFactor: 0.5,
    timeout: 20000,
    // Leave every channel after this many ms without user activity (mouse,
    // keys, touch, the tab becoming visible) and join again on the next
    // activity; 0 turns it off.
    realtimeInactivityTimeout: 0,
    // The Socket.IO `io` function; the global one by default.
    io: null,
    // Log every frame to the console.
    debug: false,
  };

  /** Defaults of `client.channel(name, options)`. */
  const CHANNEL_DEFAULTS = {
    // Receive presence_full / presence_update frames and keep getPresence().
    presence: false,
    // Receive the channel's history after joining.
    history: false,
    // Queue message() calls made while offline instead of dropping them.
    queueOfflineActions: false,
  };

  // After an error frame with one of these codes the server disconnects us;
  // trying again cannot help until the page changes something.
  const FATAL_CODES = ["invalid_hash", "realtime_disabled", "invalid_token"];
  const ACTIVITY_EVENTS = ["mousemove", "keydown", "touchstart", "pointerdown"];
  const PREFIX = "[realtime]";
  // History ids a channel remembers since its last join, to drop a repeat.
  const SEEN_IDS_KEPT = 1000;

  /** A small chainable event emitter: on, once, off, emit. */
  class Emitter {
    constructor() {
      this._listeners = new Map();
    }

    /**
     * Call `fn` every time `event` is emitted.
     * @param {string} event
     * @param {Function} fn
     * @returns {this}
     */
    on(event, fn) {
      if (typeof fn !== "function") {
        throw new TypeError(`${PREFIX} listener must be a function`);
      }
      if (!this._listeners.has(event)) this._listeners.set(event, []);
      this._listeners.get(event).push(fn);
      return this;
    }

    /**
     * Call `fn` the next time `event` is emitted, then forget it.
     * @param {string} event
     * @param {Function} fn
     * @returns {this}
     */
    once(event, fn) {
      const wrapper = (...args) => {
        this.off(event, wrapper);
        fn.apply(this, args);
      };
      wrapper.listener = fn;
      return this.on(event, wrapper);
    }

    /**
     * Remove `fn` from `event`; every listener of `event` without `fn`;
     * every listener of every event without arguments.
     * @param {string} [event]
     * @param {Function} [fn]
     * @returns {this}
     */
    off(event, fn) {
      if (event === undefined) {
        this._listeners.clear();
        return this;
      }
      if (fn === undefined) {
        this._listeners.delete(event);
        return this;
      }
      const kept = (this._listeners.get(event) || []).filter(
        (listener) => listener !== fn && listener.listener !== fn
      );
      if (kept.length) this._listeners.set(event, kept);
      else this._listeners.delete(event);
      return this;
    }

    /**
     * Call every listener of `event` with `args`; a throwing listener is
     * logged and does not stop the others.
     * @param {string} event
     * @param {...*} args
     * @returns {this}
     */
    emit(event, ...args) {
      // Copy first: a listener may remove itself (once) while we iterate.
      for (const fn of (this._listeners.get(event) || []).slice()) {
        try {
          fn.apply(this, args);
        } catch (err) {
          console.error(PREFIX, `a "${event}" listener threw`, err);
        }
      }
      return this;
    }

    /**
     * Return the listeners of `event`.
     * @param {string} event
     * @returns {Function[]}
     */
    listeners(event) {
      return (this._listeners.get(event) || []).slice();
    }
  }

  /** Return the origin ("scheme://host[:port]") of an absolute URL. */
  function originOf(url, what) {
    let parsed;
    try {
      parsed = new URL(url);
    } catch (err) {
      throw new Error(`${PREFIX} ${what} is not a valid URL: ${url}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new Error(`${PREFIX} ${what} must be an http(s) URL: ${url}`);
    }
    return parsed.origin;
  }

  /** A member of a channel's presence, as the server described it. */
  class PresenceMember {
    constructor(channel, client) {
      this.socketId = client.socketId;
      this.extras = client.extras || {};
      this.permissions = client.permissions || {};
      this.authenticated = Boolean(client.authenticated);
      Object.defineProperty(this, "_channel", { value: channel });
    }

    /**
     * Send `payload` to this member only (a direct message).
     * @param {*} payload any JSON value
     * @returns {boolean} whether the message was sent or queued
     */
    message(payload) {
      return this._channel.message(payload, { socketId: this.socketId });
    }
  }

  /**
   * One channel of a client. Created by `client.channel(name)`; incoming
   * frames for it arrive through `on()`.
   */
  class Channel extends Emitter {
    constructor(client, name, options) {
      super();
      this.client = client;
      this.name = name;
      this.options = { ...CHANNEL_DEFAULTS, ...options };
      // The socketId the server gave us in this channel (from its join frame).
      this.socketId = null;
      this.joined = false;
      // Id of the last history entry seen; sent as `since` when re-joining.
      this.lastId = null;
      // Entries seen since the last join (id -> what they carried): right
      // after a re-join the server may deliver live an entry it also sent in
      // the catch-up, and such a repeat is dropped.
      this._seen = new Map();
      this._presence = new Map();
      this._queue = [];
    }

    /**
     * Listen to frames of this channel.
     *
     * `on(fn[, onError])` calls `fn` with every frame; `on(action, fn[,
     * onError])` only with frames of that action. `onError` is called with
     * every `error` frame of the channel.
     * @returns {this}
     */
    on(actionOrFn, fn, onError) {
      if (typeof actionOrFn === "function") {
        onError = fn;
        super.on("*", actionOrFn);
      } else if (typeof actionOrFn === "string") {
        super.on(actionOrFn, fn);
      } else {
        throw new TypeError(`${PREFIX} on() needs a listener or an action name`);
      }
      if (onError !== undefined && onError !== null) super.on("error", onError);
      return this;
    }

    /**
     * Send `payload` to every member, or with `{socketId}` to one member.
     * While offline the message is queued when the channel was created with
     * `queueOfflineActions: true`, and dropped with a warning otherwise.
     * @param {*} payload any JSON value
     * @param {{socketId?: string, authenticated?: boolean}} [options]
     * @returns {boolean} whether the message was sent or queued
     */
    message(payload, options = {}) {
      if (payload === undefined) {
        throw new TypeError(`${PREFIX} message() needs a payload`);
      }
      if (options.socketId !== undefined && typeof options.socketId !== "string") {
        throw new TypeError(`${PREFIX} socketId must be a string`);
      }
      const frameOptions = { channel: this.name };
      if (options.socketId !== undefined) frameOptions.socketId = options.socketId;
      if (options.authenticated) frameOptions.authenticated = true;
      const frame = { action: "message", options: frameOptions, payload };

      if (this.client.isConnected() && !this.client.isIdle()) {
        this.client._send(frame);
        return true;
      }
      if (this.options.queueOfflineActions) {
        // Limitation: the queue lives in memory without a bound; a page that
        // stays offline long and keeps sending grows it, and a reload loses it.
        this._queue.push(frame);
        return true;
      }
      console.warn(PREFIX, `offline: message to "${this.name}" dropped`);
      return false;
    }

    /**
     * Ask the server for the channel's history; it arrives as a `history`
     * frame through `on()`.
     * @returns {this}
     */
    history() {
      this.client._send({ action: "history", options: { channel: this.name } });
      return this;
    }

    /**
     * Return the members currently in the channel (kept from presence
     * frames; empty unless the channel was created with `presence: true`).
     * @returns {PresenceMember[]}
     */
    getPresence() {
      return Array.from(this._presence.values());
    }

    /**
     * Leave the channel and forget it; the object is unusable afterwards.
     */
    destroy() {
      if (this.client.isConnected() && this.joined) {
        this.client._send({ action: "leave", options: { channel: this.name } });
      }
      this.client._forget(this);
      this._presence.clear();
      this._queue = [];
      this.joined = false;
      this.off();
    }

    _joinFrame() {
      const payload = {
        presence: Boolean(this.options.presence),
        history: Boolean(this.options.history),
      };
      // Resuming: the server replays what came after `since`, so the full
      // history would only repeat what this page already has.
      if (this.lastId !== null) {
        payload.since = this.lastId;
        payload.history = false;
      }
      return { action: "join", options: { channel: this.name }, payload };
    }

    _flushQueue() {
      const queued = this._queue;
      this._queue = [];
      for (const frame of queued) this.client._send(frame);
    }

    /**
     * Remember a history entry (or the frame that delivered it); return false
     * when it was seen already.
     */
    _see(entry) {
      const id = entry.options && entry.options.id;
      if (typeof id !== "number") return true;
      // The sender and payload tell a repeat from a new entry that reuses an
      // id (ids restart when the server's history store was emptied).
      const carried = JSON.stringify([entry.client && entry.client.socketId, entry.payload]);
      if (this._seen.get(id) === carried) return false;
      this._seen.set(id, carried);
      if (this._seen.size > SEEN_IDS_KEPT) {
        this._seen.delete(this._seen.keys().next().value);
      }
      if (this.lastId === null || id > this.lastId) this.lastId = id;
      return true;
    }

    _receive(frame) {
      const payload = frame.payload || {};
      switch (frame.action) {
        case "join":
          this.joined = true;
          this._seen.clear();
          if (frame.client && frame.client.socketId) {
            this.socketId = frame.client.socketId;
          }
          break;
        case "leave":
          this.joined = false;
          this._presence.clear();
          break;
        case "message":
        case "event":
          if (!this._see(frame)) {
            this.client._log("dropped a repeated entry", frame.options.id);
            return;
          }
          break;
        case "history":
          this._seen.clear();
          // The history is what the server holds now: the next resume
          // starts from its newest entry.
          if ((payload.history || []).length) this.lastId = null;
          for (const entry of payload.history || []) {
            this._see({ ...entry, options: { ...entry.options, id: entry.id } });
          }
          break;
        case "presence_full":
          this._presence.clear();
          for (const member of payload.presence || []) {
            this._presence.set(member.socketId, new PresenceMember(this, member));
          }
          break;
        case "presence_update":
          if (payload.presence && payload.action === "join") {
            const member = new PresenceMember(this, payload.presence);
            this._presence.set(member.socketId, member);
          } else if (payload.presence && payload.action === "leave") {
            this._presence.delete(payload.presence.socketId);
          }
          break;
        case "error":
          this._forgetFailedJoin(payload.code);
          break;
        default:
          break;
      }
      this.emit("*", frame);
      this.emit(frame.action, frame);
    }

    _forgetFailedJoin(code) {
      // A refused join leaves nothing to resume or show.
      if (["channel_not_allowed", "auth_required", "invalid_channel"].includes(code)) {
        this.joined = false;
        this._presence.clear();
      }
    }

    _connectionStatus(status, code) {
      if (status === "disconnected") {
        this.joined = false;
        this._presence.clear();
      }
      const payload = code ? { status, code } : { status };
      this._receive({
        action: "connection_status",
        options: { channel: this.name },
        payload,
      });
    }
  }

  /**
   * A connection to a realtime server, plus helpers for the API group.
   *
   * Events (via `client.on`): `connection_status` ({status, code?}),
   * `error` (an error frame), `frame` (every frame received), `idle` and
   * `active` (inactivity timeout).
   */
  class Client extends Emitter {
    /**
     * @param {Object} options see DEFAULTS at the top of this file;
     *   `realtimeConnectionCanonical` is accepted for realtimeConnectionHash.
     */
    constructor(options = {}) {
      super();
      if (options === null || typeof options !== "object") {
        throw new TypeError(`${PREFIX} options must be an object`);
      }
      const merged = { ...DEFAULTS, ...options };
      if (!merged.realtimeConnectionHash && options.realtimeConnectionCanonical) {
        merged.realtimeConnectionHash = options.realtimeConnectionCanonical;
      }
      delete merged.realtimeConnectionCanonical;
      this.options = merged;
      if (merged.instanceBaseUrl) originOf(merged.instanceBaseUrl, "instanceBaseUrl");
      if (merged.apiGroupBaseUrl) originOf(merged.apiGroupBaseUrl, "apiGroupBaseUrl");

      this._channels = new Map();
      this._socket = null;
      // null until the first status is known, then "connected"/"disconnected".
      this._status = null;
      this._idle = false;
      this._stopped = false;
      this._retryTimer = null;
      this._retryDelay = merged.reconnectionDelay;
      this._inactivityTimer = null;
      this._onActivity = null;
    }

    /**
     * Return the channel named `name`, joining it (and connecting) on first
     * use; a second call with the same name returns the same object.
     * @param {string} name
     * @param {{presence?: boolean, history?: boolean,
     *   queueOfflineActions?: boolean}} [options]
     * @returns {Channel}
     */
    channel(name, options = {}) {
      if (typeof name !== "string" || name === "") {
        throw new TypeError(`${PREFIX} channel name must be a non-empty string`);
      }
      if (options === null || typeof options !== "object") {
        throw new TypeError(`${PREFIX} channel options must be an object`);
      }
      const existing = this._channels.get(name);
      if (existing) return existing;

      if (!this._socket) this._assertConnectable();
      const channel = new Channel(this, name, options);
      this._channels.set(name, channel);
      if (!this._socket) this._connect();
      else if (this.isConnected() && !this._idle) this._send(channel._joinFrame());
      return channel;
    }

    /**
     * Set the end user's auth token used for the next realtime connection
     * (call realtimeReconnect() to use it now); null to go anonymous.
     * @param {string|null} token
     */
    setRealtimeAuthToken(token) {
      this.options.realtimeAuthToken = this._checkToken(token);
    }

    /** @returns {boolean} whether a realtime auth token is set. */
    hasRealtimeAuthToken() {
      return Boolean(this.options.realtimeAuthToken);
    }

    /**
     * Set the token get()/post() send as "Authorization: Bearer".
     * @param {string|null} token
     */
    setAuthToken(token) {
      this.options.authToken = this._checkToken(token);
    }

    /** @returns {boolean} whether an API auth token is set. */
    hasAuthToken() {
      return Boolean(this.options.authToken);
    }

    /**
     * Drop the connection and open a new one (with the current connection
     * hash and auth token); every channel is joined again.
     */
    realtimeReconnect() {
      this._teardownSocket();
      this._stopped = false;
      this._retryDelay = this.options.reconnectionDelay;
      this._connect();
    }

    /** Close the connection for good; channels stay until destroyed. */
    realtimeDisconnect() {
      this._stopped = true;
      this._teardownSocket();
    }

    /** @returns {boolean} whether the socket is connected. */
    isConnected() {
      return this._status === "connected";
    }

    /** @returns {boolean} whether channels were left for inactivity. */
    isIdle() {
      return this._idle;
    }

    /**
     * GET `path` of the API group and return its JSON body.
     * @param {string} path e.g. "/auth/me"
     * @returns {Promise<*>}
     */
    get(path) {
      return this._request("GET", path);
    }

    /**
     * POST `body` as JSON to `path` of the API group and return the JSON
     * answer; a 4xx/5xx answer rejects with an Error whose `code` is the
     * answer's `error` field and `status` the HTTP status.
     * @param {string} path e.g. "/auth/login"
     * @param {*} [body]
     * @returns {Promise<*>}
     */
    post(path, body) {
      return this._request("POST", path, body === undefined ? {} : body);
    }

    // Internals below: not part of the API.

    _checkToken(token) {
      if (token !== null && token !== undefined && typeof token !== "string") {
        throw new TypeError(`${PREFIX} auth token must be a string or null`);
      }
      return token || null;
    }

    _realtimeOrigin() {
      const { instanceBaseUrl, apiGroupBaseUrl } = this.options;
      if (instanceBaseUrl) return originOf(instanceBaseUrl, "instanceBaseUrl");
      // "<origin>/api:<key>": the API group lives on the realtime server.
      if (apiGroupBaseUrl) return originOf(apiGroupBaseUrl, "apiGroupBaseUrl");
      if (global.location && global.location.origin) return global.location.origin;
      throw new Error(`${PREFIX} instanceBaseUrl or apiGroupBaseUrl is required`);
    }

    _assertConnectable() {
      if (typeof (this.options.io || global.io) !== "function") {
        throw new Error(`${PREFIX} load the Socket.IO client before realtime.js`);
      }
      const hash = this.options.realtimeConnectionHash;
      if (typeof hash !== "string" || hash === "") {
        throw new Error(`${PREFIX} realtimeConnectionHash is required`);
      }
      this._realtimeOrigin();
    }

    _connect() {
      this._assertConnectable();
      const io = this.options.io || global.io;
      const url = this._realtimeOrigin() + this.options.namespace;
      const socket = io(url, {
        path: this.options.path,
        transports: this.options.transports,
        reconnection: this.options.reconnection,
        reconnectionDelay: this.options.reconnectionDelay,
        reconnectionDelayMax: this.options.reconnectionDelayMax,
        randomizationFactor: this.options.randomizationFactor,
        timeout: this.options.timeout,
        forceNew: true,
        // A function, so every reconnection sends the current token.
        auth: (cb) =>
          cb({
            hash: this.options.realtimeConnectionHash,
            token: this.options.realtimeAuthToken,
          }),
      });
      this._socket = socket;
      socket.on("connect", () => this._handleConnect(socket));
      socket.on("disconnect", (reason) => this._handleDisconnect(socket, reason));
      socket.on("connect_error", (err) => this._handleConnectError(socket, err));
      socket.on("rt", (frame) => this._handleFrame(socket, frame));
      this._startInactivityWatch();
      this._log("connecting to", url);
    }

    _teardownSocket() {
      clearTimeout(this._retryTimer);
      this._retryTimer = null;
      const socket = this._socket;
      this._socket = null;
      if (!socket) return;
      socket.off();
      socket.disconnect();
      if (this.isConnected()) this._setStatus("disconnected", null);
    }

    _forget(channel) {
      if (this._channels.get(channel.name) === channel) {
        this._channels.delete(channel.name);
      }
    }

    _send(frame) {
      if (!this._socket) return;
      this._log("send", frame);
      this._socket.emit("rt", frame);
    }

    _handleConnect(socket) {
      if (socket !== this._socket) return;
      this._retryDelay = this.options.reconnectionDelay;
      this._setStatus("connected", null);
      if (!this._idle) this._joinAll();
    }

    _joinAll() {
      for (const channel of this._channels.values()) {
        this._send(channel._joinFrame());
        channel._flushQueue();
      }
    }

    _handleDisconnect(socket, reason) {
      if (socket !== this._socket) return;
      this._log("disconnected:", reason);
      this._setStatus("disconnected", null);
      // Socket.IO retries by itself except when the server closed the
      // connection on purpose (for example a connection limit); then we
      // retry with our own back-off.
      if (reason === "io server disconnect") this._scheduleRetry();
    }

    _handleConnectError(socket, err) {
      if (socket !== this._socket) return;
      const data = (err && err.data) || {};
      const message = (err && err.message) || "";
      let code = data.code || data.error || null;
      if (!code && FATAL_CODES.includes(message)) code = message;
      this._log("connect_error:", err && err.message, code);
      if (code) {
        this._routeError(socket, {
          action: "error",
          options: {},
          payload: { code, message: data.message || message || code },
        });
        if (FATAL_CODES.includes(code) || socket !== this._socket) return;
      }
      // Tell the page once that the first attempt failed; later failures of
      // the retry loop change nothing it shows.
      if (this._status === null) this._setStatus("disconnected", code);
      // The server refused the connection for a reason that may pass.
      if (!socket.active) this._scheduleRetry();
    }

    _handleFrame(socket, frame) {
      if (socket !== this._socket) return;
      if (!frame || typeof frame !== "object" || typeof frame.action !== "string") {
        this._log("ignored a malformed frame", frame);
        return;
      }
      this._log("receive", frame);
      this.emit("frame", frame);
      if (frame.action === "error") {
        this._routeError(socket, frame);
        return;
      }
      const name = frame.options && frame.options.channel;
      const channel = this._channels.get(name);
      if (channel) channel._receive(frame);
    }

    _routeError(socket, frame) {
      const payload = frame.payload || {};
      console.warn(PREFIX, "error:", payload.code, payload.message || "");
      this.emit("error", frame);
      const name = frame.options && frame.options.channel;
      const channel = name && this._channels.get(name);
      // An error about no channel in particular concerns every channel.
      const targets = channel ? [channel] : Array.from(this._channels.values());
      for (const target of targets) {
        const options = { ...frame.options, channel: target.name };
        target._receive({ ...frame, options });
      }
      // The server disconnects us after these codes (possibly before it
      // even confirmed the connection); stop first, so nothing reconnects.
      // A listener may already have replaced the socket (realtimeReconnect).
      if (FATAL_CODES.includes(payload.code) && socket === this._socket) {
        this._stop(payload.code);
      }
    }

    _stop(code) {
      // Codes the page must fix (a wrong hash, Realtime switched off, a bad
      // token): reconnecting would only be refused again.
      this._stopped = true;
      const socket = this._socket;
      this._socket = null;
      clearTimeout(this._retryTimer);
      if (socket) {
        socket.off();
        socket.disconnect();
      }
      this._setStatus("disconnected", code, true);
    }

    _scheduleRetry() {
      if (this._stopped || !this.options.reconnection) return;
      clearTimeout(this._retryTimer);
      const delay = this._retryDelay;
      this._retryDelay = Math.min(delay * 2, this.options.reconnectionDelayMax);
      this._log("reconnecting in", delay, "ms");
      this._retryTimer = setTimeout(() => {
        if (this._socket && !this._stopped) this._socket.connect();
      }, delay);
    }

    _setStatus(status, code, force) {
      const previous = this._status;
      this._status = status;
      // Announce changes only (plus a fatal stop), so a retry loop does not
      // flood the channels with "disconnected".
      if (!force && previous === status) return;
      console.info(PREFIX, "connection_status:", status + (code ? ` (${code})` : ""));
      const payload = code ? { status, code } : { status };
      this.emit("connection_status", payload);
      for (const channel of this._channels.values()) {
        channel._connectionStatus(status, code);
      }
    }

    _startInactivityWatch() {
      const timeout = this.options.realtimeInactivityTimeout;
      if (!timeout || this._onActivity || !global.document) return;
      const doc = global.document;
      this._onActivity = (event) => {
        if (event && event.type === "visibilitychange" && doc.hidden) return;
        this._activity();
      };
      for (const name of ACTIVITY_EVENTS) {
        doc.addEventListener(name, this._onActivity, { passive: true });
      }
      doc.addEventListener("visibilitychange", this._onActivity);
      this._activity();
    }

    _activity() {
      clearTimeout(this._inactivityTimer);
      this._inactivityTimer = setTimeout(
        () => this._goIdle(),
        this.options.realtimeInactivityTimeout
      );
      if (!this._idle) return;
      this._idle = false;
      this._log("activity: joining channels again");
      this.emit("active");
      if (this.isConnected()) this._joinAll();
    }

    _goIdle() {
      if (this._idle) return;
      this._idle = true;
      this._log("inactive: leaving channels");
      for (const channel of this._channels.values()) {
        if (this.isConnected() && channel.joined) {
          this._send({ action: "leave", options: { channel: channel.name } });
        }
      }
      this.emit("idle");
    }

    async _request(method, path, body) {
      if (!this.options.apiGroupBaseUrl) {
        throw new Error(`${PREFIX} apiGroupBaseUrl is required for API calls`);
      }
      if (typeof path !== "string" || !path.startsWith("/")) {
        throw new TypeError(`${PREFIX} path must be a string starting with "/"`);
      }
      const headers = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (this.options.authToken) {
        headers.Authorization = `Bearer ${this.options.authToken}`;
      }
      const url = this.options.apiGroupBaseUrl.replace(/\/+$/, "") + path;
      const response = await global.fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch (err) {
        data = null;
      }
      if (!response.ok) {
        const detail = data && typeof data === "object" ? data : {};
        const error = new Error(detail.message || `HTTP ${response.status}`);
        error.code = detail.error || `http_${response.status}`;
        error.status = response.status;
        error.body = data;
        throw error;
      }
      return data;
    }

    _log(...args) {
      if (this.options.debug) console.debug(PREFIX, ...args);
    }
  }

  global.Realtime = {
    Client,
    Channel,
    Emitter,
    PresenceMember,
    DEFAULTS,
    CHANNEL_DEFAULTS,
  };
})(typeof window !== "undefined" ? window : globalThis);

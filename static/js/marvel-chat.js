/**
 * Marvel chat demo page: connects with the Realtime SDK (realtime.js) and
 * chats in one channel, with presence, history and optional end-user login.
 *
 * Every piece of text that came from the network or a person is rendered
 * with textContent, never as HTML.
 */
(function () {
  "use strict";

  const STORAGE_KEYS = {
    api: "marvelChat.apiGroupBaseUrl",
    hash: "marvelChat.connectionHash",
    nickname: "marvelChat.nickname",
    // One token per API group: suffixed with its base URL.
    // Limitation: localStorage is readable by any script of this origin, so
    // a page with an XSS hole would leak the token; fine for a demo, not for
    // an app holding real accounts.
    token: "marvelChat.authToken:",
  };

  // What a person should read for each error code the server can send.
  const ERROR_TEXT = {
    invalid_hash:
      "This connection hash does not belong to any workspace. Copy it again " +
      "from the workspace's Realtime settings.",
    realtime_disabled: "Realtime is turned off for this workspace.",
    invalid_token: "Your sign-in is no longer valid; log in again.",
    connection_limit: "The workspace has too many connections right now. Retrying…",
    channel_not_allowed:
      "No channel rule of this workspace allows this channel. Add a rule for " +
      "it in the dashboard.",
    auth_required: "This channel is for signed-in users: log in below.",
    publish_not_allowed: "The channel rule does not let you send messages here.",
    payload_too_large: "That message is too large for this workspace.",
    rate_limited: "You are sending too fast; wait a moment.",
    unavailable: "The realtime service is briefly unavailable. Try again soon.",
  };
  // Codes after which the chat cannot work until the person changes something.
  const BLOCKING_CODES = [
    "invalid_hash",
    "realtime_disabled",
    "invalid_token",
    "channel_not_allowed",
    "auth_required",
  ];

  const root = document.getElementById("marvel-chat");
  if (!root) return;
  const channelName = root.dataset.channel;
  const debug = root.dataset.debug === "true";

  const $ = (id) => document.getElementById(id);
  const ui = {
    connectForm: $("connect-form"),
    apiUrl: $("api-url"),
    hash: $("connection-hash"),
    state: $("connection-state"),
    banner: $("status-banner"),
    messages: $("message-list"),
    messageCount: $("message-count"),
    emptyNote: $("empty-note"),
    messageForm: $("message-form"),
    nicknameField: $("nickname-field"),
    nickname: $("nickname"),
    text: $("message-text"),
    send: $("send-button"),
    presence: $("presence-list"),
    presenceCount: $("presence-count"),
    presenceNote: $("presence-note"),
    accountForm: $("account-form"),
    accountName: $("account-name"),
    accountEmail: $("account-email"),
    accountPassword: $("account-password"),
    accountError: $("account-error"),
    signedIn: $("signed-in"),
    signedInName: $("signed-in-name"),
    logout: $("logout-button"),
  };

  let client = null;
  let channel = null;
  // The logged-in end user ({id, name, email}), or null.
  let endUser = null;
  const renderedIds = new Set();
  // Names seen in messages, so presence can name anonymous members too.
  const namesBySocket = new Map();

  // Storage may be unavailable (private windows, blocked cookies).

  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (err) {
      return null;
    }
  }

  function store(key, value) {
    try {
      if (value === null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, value);
    } catch (err) {
      // Nothing to remember then; the page still works.
    }
  }

  // Status line and banner.

  function setState(kind, text) {
    ui.state.className = `state state-${kind}`;
    ui.state.textContent = text;
  }

  function showBanner(text, kind = "error", code = null) {
    ui.banner.replaceChildren();
    if (code) {
      const strong = document.createElement("strong");
      strong.className = "banner-code";
      strong.textContent = code;
      ui.banner.append(strong, " ");
    }
    ui.banner.append(text);
    ui.banner.className = `banner banner-${kind}`;
    ui.banner.dataset.code = code || "";
    ui.banner.hidden = false;
  }

  function hideBanner() {
    ui.banner.hidden = true;
    ui.banner.dataset.code = "";
    ui.banner.replaceChildren();
  }

  function setComposerEnabled(enabled) {
    ui.text.disabled = !enabled;
    ui.send.disabled = !enabled;
  }

  // Connecting.

  function readConnectForm() {
    const api = ui.apiUrl.value.trim().replace(/\/+$/, "");
    const hash = ui.hash.value.trim();
    let url = null;
    try {
      url = new URL(api);
    } catch (err) {
      url = null;
    }
    const web = url && ["http:", "https:"].includes(url.protocol);
    if (!web || !url.pathname.includes("/api:")) {
      return {
        error: "Enter the API group base URL, like https://example.com/api:AbC123.",
      };
    }
    if (!hash) return { error: "Enter the workspace's connection hash." };
    return { api, hash };
  }

  function disconnect() {
    if (channel) channel.destroy();
    if (client) client.realtimeDisconnect();
    channel = null;
    client = null;
  }

  function connect(api, hash) {
    disconnect();
    clearMessages();
    renderPresence();
    const token = load(STORAGE_KEYS.token + api);
    client = new window.Realtime.Client({
      apiGroupBaseUrl: api,
      realtimeConnectionHash: hash,
      realtimeAuthToken: token,
      authToken: token,
      debug,
    });
    setState("connecting", "Connecting…");
    hideBanner();
    channel = client.channel(channelName, { presence: true, history: true });
    channel.on(frameReceived, errorReceived);
    if (token) loadEndUser();
    else showAccount();
  }

  function onConnectSubmit(event) {
    event.preventDefault();
    const form = readConnectForm();
    if (form.error) {
      showBanner(form.error, "error");
      return;
    }
    store(STORAGE_KEYS.api, form.api);
    store(STORAGE_KEYS.hash, form.hash);
    connect(form.api, form.hash);
  }

  // Frames, as the hosted documentation's example reacts to them.

  function frameReceived(message) {
    switch (message.action) {
      case "message":
        messageReceived(message);
        break;
      case "event":
        eventReceived(message);
        break;
      case "history":
        historyReceived(message.payload.history || []);
        break;
      case "presence_full":
      case "presence_update":
        renderPresence();
        break;
      case "join":
        joined(message);
        break;
      case "leave":
        renderPresence();
        break;
      case "connection_status":
        connectionStatusChanged(message.payload);
        break;
      default:
        console.info(message);
    }
  }

  function errorReceived(frame) {
    const { code, message } = frame.payload || {};
    const text = ERROR_TEXT[code] || message || "Something went wrong.";
    if (code === "history_disabled") {
      // A channel without history is no failure: the chat still works.
      showBanner("This channel keeps no history.", "info", code);
      return;
    }
    if (code === "invalid_token") {
      // Carry on as a guest; the account box says why the sign-in ended.
      forgetToken();
      accountError(text);
      if (client) client.realtimeReconnect();
      return;
    }
    showBanner(text, BLOCKING_CODES.includes(code) ? "error" : "warning", code);
    if (BLOCKING_CODES.includes(code)) {
      setComposerEnabled(false);
      setState("error", "Not connected");
    }
  }

  function connectionStatusChanged(payload) {
    if (payload.status === "connected") {
      setState("connected", "Connected");
      // A banner left by a previous failure is outdated now; channel errors
      // arrive after this and show again.
      hideBanner();
      setComposerEnabled(true);
      return;
    }
    setComposerEnabled(false);
    renderPresence();
    if (payload.code) {
      setState("error", "Disconnected");
      if (ui.banner.dataset.code !== payload.code) {
        showBanner(ERROR_TEXT[payload.code] || "Disconnected.", "error", payload.code);
      }
      return;
    }
    setState("connecting", "Reconnecting…");
    showBanner("Cannot reach the realtime server. Retrying…", "warning");
  }

  function joined(frame) {
    setState("connected", "Connected");
    const granted = frame.payload || {};
    ui.presenceNote.textContent =
      granted.presence === false ? "This channel's rule does not share presence." : "";
    ui.presenceNote.hidden = granted.presence !== false;
    renderPresence();
  }

  // Messages.

  function clearMessages() {
    renderedIds.clear();
    ui.messages.replaceChildren();
    updateMessageCount();
  }

  function updateMessageCount() {
    const count = ui.messages.querySelectorAll(".message").length;
    ui.messageCount.textContent = count === 1 ? "1 message" : `${count} messages`;
    ui.emptyNote.hidden = ui.messages.children.length > 0;
  }

  function isNewEntry(frame) {
    const id = frame.options && frame.options.id;
    const key = typeof id === "number" ? id : frame.id;
    if (typeof key !== "number") return true;
    if (renderedIds.has(key)) return false;
    renderedIds.add(key);
    return true;
  }

  function senderName(frame) {
    const sender = frame.client || {};
    const extras = sender.extras || {};
    // A signed-in sender's name comes from the server, so it cannot be faked.
    if (sender.authenticated && typeof extras.name === "string" && extras.name) {
      return extras.name;
    }
    const payload = frame.payload;
    if (payload && typeof payload === "object" && typeof payload.name === "string") {
      const name = payload.name.trim().slice(0, 80);
      if (name) return name;
    }
    return "Anonymous";
  }

  function messageText(payload) {
    if (payload && typeof payload === "object" && typeof payload.text === "string") {
      return payload.text;
    }
    return typeof payload === "string" ? payload : JSON.stringify(payload);
  }

  function messageTime(frame) {
    if (typeof frame.created_at === "number") return new Date(frame.created_at);
    const payload = frame.payload;
    if (payload && typeof payload === "object" && typeof payload.sentAt === "number") {
      return new Date(payload.sentAt);
    }
    return new Date();
  }

  function timeElement(date) {
    const time = document.createElement("time");
    const valid = !Number.isNaN(date.getTime());
    time.dateTime = valid ? date.toISOString() : "";
    time.textContent = valid
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : "";
    return time;
  }

  function appendItem(item) {
    const list = ui.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    if (atBottom) list.scrollTop = list.scrollHeight;
    updateMessageCount();
  }

  function messageReceived(message) {
    if (!isNewEntry(message)) return;
    const sender = message.client || {};
    const name = senderName(message);
    if (sender.socketId) namesBySocket.set(sender.socketId, name);
    const own = channel && channel.socketId;
    const mine = Boolean(sender.socketId) && sender.socketId === own;
    const direct = Boolean(message.options && message.options.socketId);

    const item = document.createElement("li");
    item.className = "message" + (mine ? " mine" : "") + (direct ? " direct" : "");
    const meta = document.createElement("div");
    meta.className = "message-meta";
    const who = document.createElement("span");
    who.className = "message-name";
    who.textContent = name;
    meta.append(who);
    if (sender.authenticated) meta.append(badge("signed in", "badge-ready"));
    if (direct) meta.append(badge("private", ""));
    meta.append(timeElement(messageTime(message)));
    const body = document.createElement("p");
    body.className = "message-text";
    body.textContent = messageText(message.payload);
    item.append(meta, body);
    appendItem(item);
    renderPresence();
  }

  function eventReceived(frame) {
    if (!isNewEntry(frame)) return;
    const item = document.createElement("li");
    item.className = "event";
    const payload = frame.payload;
    const wrapped = payload && typeof payload === "object" && "data" in payload;
    const data = wrapped ? payload.data : payload;
    const label = document.createElement("span");
    label.className = "event-label";
    label.textContent = "Event";
    const body = document.createElement("span");
    body.textContent = typeof data === "string" ? data : JSON.stringify(data);
    item.append(label, " ", body, " ", timeElement(messageTime(frame)));
    appendItem(item);
  }

  function historyReceived(entries) {
    // A history frame is the whole story so far: render it from scratch.
    clearMessages();
    for (const entry of entries) {
      if (entry.action === "message") messageReceived(entry);
      else if (entry.action === "event") eventReceived(entry);
    }
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function badge(text, extraClass) {
    const span = document.createElement("span");
    span.className = `badge ${extraClass}`.trim();
    span.textContent = text;
    return span;
  }

  function sendMessage(event) {
    event.preventDefault();
    const text = ui.text.value.trim();
    if (!text || !channel) return;
    const name = endUser ? endUser.name : ui.nickname.value.trim() || "Anonymous";
    const sent = channel.message({ text, name, sentAt: Date.now() });
    if (sent) {
      ui.text.value = "";
      ui.text.focus();
    } else {
      showBanner("Not connected: the message was not sent.", "warning");
    }
  }

  // Presence.

  function memberName(member) {
    if (member.authenticated && member.extras && typeof member.extras.name === "string") {
      return member.extras.name;
    }
    return namesBySocket.get(member.socketId) || "Anonymous";
  }

  function renderPresence() {
    const members = channel ? channel.getPresence() : [];
    const own = channel && channel.socketId;
    members.sort((a, b) => {
      if (a.socketId === own) return -1;
      if (b.socketId === own) return 1;
      return memberName(a).localeCompare(memberName(b));
    });
    const items = members.map((member) => {
      const item = document.createElement("li");
      item.dataset.socketId = member.socketId;
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.setAttribute("aria-hidden", "true");
      const name = document.createElement("span");
      name.className = "presence-name";
      name.textContent = memberName(member) + (member.socketId === own ? " (you)" : "");
      item.append(dot, name);
      if (member.authenticated) item.append(" ", badge("signed in", "badge-ready"));
      return item;
    });
    ui.presence.replaceChildren(...items);
    ui.presenceCount.textContent = String(members.length);
  }

  // End-user account (optional).

  function apiClient() {
    if (client) return client;
    const form = readConnectForm();
    if (form.error) throw new Error(form.error);
    return new window.Realtime.Client({ apiGroupBaseUrl: form.api, debug });
  }

  function showAccount() {
    ui.signedIn.hidden = !endUser;
    ui.accountForm.hidden = Boolean(endUser);
    ui.nicknameField.hidden = Boolean(endUser);
    ui.signedInName.textContent = endUser ? endUser.name : "";
  }

  function forgetToken() {
    if (client) {
      store(STORAGE_KEYS.token + client.options.apiGroupBaseUrl, null);
      client.setAuthToken(null);
      client.setRealtimeAuthToken(null);
    }
    endUser = null;
    showAccount();
  }

  async function loadEndUser() {
    const current = client;
    try {
      const user = await current.get("/auth/me");
      if (current !== client) return;
      endUser = user;
    } catch (err) {
      if (current !== client) return;
      if (err.status === 401) forgetToken();
      endUser = null;
    }
    showAccount();
  }

  async function onAccountSubmit(event) {
    event.preventDefault();
    const mode = (event.submitter && event.submitter.dataset.mode) || "login";
    const email = ui.accountEmail.value.trim();
    const password = ui.accountPassword.value;
    const name = ui.accountName.value.trim();
    ui.accountError.hidden = true;
    if (!email || !password || (mode === "signup" && !name)) {
      accountError(
        mode === "signup"
          ? "Enter a name, an email and a password to sign up."
          : "Enter your email and password."
      );
      return;
    }

    let api;
    try {
      api = apiClient();
      const body = mode === "signup" ? { name, email, password } : { email, password };
      const answer = await api.post(`/auth/${mode}`, body);
      signedIn(api, answer.authToken);
    } catch (err) {
      accountError(err.message || "That did not work; try again.");
    }
  }

  function accountError(text) {
    ui.accountError.textContent = text;
    ui.accountError.hidden = false;
  }

  function signedIn(api, token) {
    if (typeof token !== "string" || !token) {
      accountError("The API group answered without an auth token.");
      return;
    }
    store(STORAGE_KEYS.token + api.options.apiGroupBaseUrl, token);
    ui.accountPassword.value = "";
    api.setAuthToken(token);
    if (api !== client) {
      // Not connected yet: connect() picks the stored token up.
      api.get("/auth/me").then(
        (user) => {
          endUser = user;
          showAccount();
        },
        () => showAccount()
      );
      return;
    }
    // The realtime connection uses a new token only from its next connect.
    client.setRealtimeAuthToken(token);
    client.realtimeReconnect();
    loadEndUser();
  }

  function onLogout() {
    forgetToken();
    if (client) client.realtimeReconnect();
  }

  // Start-up.

  function start() {
    if (!ui.apiUrl.value) ui.apiUrl.value = load(STORAGE_KEYS.api) || "";
    if (!ui.hash.value) ui.hash.value = load(STORAGE_KEYS.hash) || "";
    ui.nickname.value = load(STORAGE_KEYS.nickname) || "";
    updateMessageCount();
    showAccount();

    ui.connectForm.addEventListener("submit", onConnectSubmit);
    ui.messageForm.addEventListener("submit", sendMessage);
    ui.nickname.addEventListener("change", () => {
      store(STORAGE_KEYS.nickname, ui.nickname.value.trim() || null);
    });
    ui.accountForm.addEventListener("submit", onAccountSubmit);
    ui.logout.addEventListener("click", onLogout);

    // Known values (from the dashboard's link or a previous visit): connect
    // at once, so a reload shows the channel's history straight away.
    const form = readConnectForm();
    if (!form.error) connect(form.api, form.hash);
  }

  start();
})();

/**
 * The hosted service's JavaScript SDK (`@xano/js-sdk`) against our server.
 *
 * Drives simulated users (one `sdk_user.js` process each, since the SDK keeps
 * one socket per process) through the SDK's public API only, and asserts what
 * each of them sees. Prints one JSON line per check,
 * `{"check": name, "ok": true}`, or `{"check": name, "ok": false, "error"}`
 * followed by `{"diagnostic": ...}` lines and exit status 1; a full run ends
 * with `{"summary": "pass", "checks": [...]}`.
 *
 * Environment: SDK_TEST_PORT, SDK_TEST_HASH (a Realtime-enabled workspace),
 * SDK_TEST_CHANNEL (a channel its rules allow with presence, history and
 * direct messages), SDK_TEST_TOKEN (an auth token of one of its end users),
 * SDK_TEST_END_USER_ID and SDK_TEST_END_USER_NAME (that end user).
 */
"use strict";

const assert = require("node:assert/strict");

const { User } = require("./user_process");

const ENV = process.env;
const HASH = ENV.SDK_TEST_HASH;
const CHANNEL = ENV.SDK_TEST_CHANNEL;
const TOKEN = ENV.SDK_TEST_TOKEN;
const END_USER_ID = Number(ENV.SDK_TEST_END_USER_ID);
const END_USER_NAME = ENV.SDK_TEST_END_USER_NAME;
// The SDK keeps only the hostname of this URL; local_websocket.js swaps it.
const INSTANCE_BASE_URL = "https://sdk-test.invalid";
const UNKNOWN_HASH = "no-such-connection-hash";
const JOIN_OPTIONS = { presence: true, history: true };
// The SDK retries 1 s after a close it reconnects from; watching well past
// that shows that it does not.
const RECONNECT_WATCH_MS = 2500;
// The whole scenario stays far below the pytest wrapper's own bound.
const SCENARIO_MS = 25000;

/**
 * The configuration a user of the hosted service would pass to XanoClient.
 * @param {string} hash
 * @param {string} [token]
 */
function clientConfig(hash, token) {
  const config = { instanceBaseUrl: INSTANCE_BASE_URL, realtimeConnectionHash: hash };
  if (token !== undefined) {
    config.realtimeAuthToken = token;
  }
  return config;
}

function isConnected(frame) {
  return frame.payload.status === "connected";
}

const passed = [];

/**
 * Run one named check; print its outcome; rethrow its failure.
 * @param {string} name
 * @param {() => Promise<void>} body
 */
async function check(name, body) {
  try {
    await body();
  } catch (error) {
    print({ check: name, ok: false, error: error.stack });
    throw error;
  }
  passed.push(name);
  print({ check: name, ok: true });
}

function print(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function anonymousUserJoins(a) {
  await check("sdk_opens_the_hosted_url_without_subprotocol", async () => {
    await a.run("join", {
      config: clientConfig(HASH),
      name: CHANNEL,
      options: JOIN_OPTIONS,
    });
    const created = await a.socket("created");
    assert.equal(created.url, `wss://sdk-test.invalid/rt/${HASH}`);
    assert.equal(created.protocols, undefined);
    await a.socket("open");
  });
  await check("join_frame_names_the_joiner", async () => {
    const joined = await a.frame("join");
    assert.deepEqual(joined.options, { channel: CHANNEL });
    assert.deepEqual(joined.payload, { presence: true, history: true });
    assert.equal(typeof joined.client.socketId, "string");
    assert.ok(joined.client.socketId);
    assert.equal(joined.client.authenticated, false);
    assert.deepEqual(joined.client.permissions, { dbo_id: 0, row_id: 0 });
    a.client = joined.client;
  });
  await check("presence_full_lists_the_joiner_itself", async () => {
    const full = await a.frame("presence_full");
    assert.deepEqual(full.options, { channel: CHANNEL });
    assert.deepEqual(full.payload, { presence: [a.client] });
  });
  await check("history_frame_follows_the_join_frame", async () => {
    const history = await a.frame("history");
    assert.deepEqual(history.payload, { history: [] });
    assert.equal(a.frames("history").length, 1);
    const lineOf = (action) =>
      a.lines.findIndex((l) => l.type === "frame" && l.frame.action === action);
    assert.ok(lineOf("join") < lineOf("history"));
  });
}

async function authenticatedUserJoins(a, b) {
  await check("token_travels_as_the_selected_subprotocol", async () => {
    await b.run("join", {
      config: clientConfig(HASH, TOKEN),
      name: CHANNEL,
      options: JOIN_OPTIONS,
    });
    const created = await b.socket("created");
    assert.deepEqual(created.protocols, [TOKEN]);
    const open = await b.socket("open");
    assert.equal(open.protocol, TOKEN);
  });
  await check("authenticated_client_carries_its_end_user", async () => {
    const joined = await b.frame("join");
    assert.equal(joined.client.authenticated, true);
    assert.equal(joined.client.extras.name, END_USER_NAME);
    assert.equal(joined.client.extras.id, END_USER_ID);
    assert.equal(joined.client.permissions.row_id, END_USER_ID);
    assert.ok(joined.client.permissions.dbo_id > 0);
    b.client = joined.client;
  });
  await check("presence_full_lists_every_member", async () => {
    const full = await b.frame("presence_full");
    const ids = full.payload.presence.map((c) => c.socketId).sort();
    assert.deepEqual(ids, [a.client.socketId, b.client.socketId].sort());
    await b.frame("history");
  });
  await check("members_see_the_new_member_join", async () => {
    const update = await a.frame("presence_update");
    assert.deepEqual(update.options, { channel: CHANNEL });
    assert.deepEqual(update.payload, { action: "join", presence: b.client });
  });
}

async function exchangeMessages(a, b) {
  let helloId = null;
  await check("message_reaches_every_member_with_its_sender", async () => {
    await a.run("message", { payload: { text: "hello" } });
    const ids = [];
    for (const user of [a, b]) {
      const frame = await user.frame("message", (f) => f.payload?.text === "hello");
      assert.equal(frame.client.socketId, a.client.socketId);
      assert.equal(frame.options.channel, CHANNEL);
      assert.equal(frame.options.authenticated, false);
      assert.equal(frame.options.socketId, undefined);
      assert.equal(typeof frame.options.id, "number");
      ids.push(frame.options.id);
    }
    assert.equal(ids[0], ids[1]);
    helloId = ids[0];
  });
  await check("direct_message_reaches_only_its_target", async () => {
    // Once through the presence list's helper, once through message().
    await b.run("messagePresent", { socketId: a.client.socketId, payload: "psst" });
    await b.run("message", {
      payload: "psst again",
      options: { socketId: a.client.socketId },
    });
    for (const text of ["psst", "psst again"]) {
      const frame = await a.frame("message", (f) => f.payload === text);
      assert.equal(frame.options.socketId, a.client.socketId);
      assert.equal(frame.client.socketId, b.client.socketId);
      assert.equal(frame.client.authenticated, true);
    }
    // Frames to one client keep their order: whatever the server sent before
    // these history answers has arrived by then.
    const history = await b.askHistory();
    await a.askHistory();
    const direct = (user) =>
      user.frames("message").filter((f) => String(f.payload).startsWith("psst"));
    assert.deepEqual(direct(b), []);
    assert.equal(direct(a).length, 2);
    assert.deepEqual(
      history.payload.history.map((entry) => [
        entry.id,
        entry.action,
        entry.payload,
        entry.client.socketId,
      ]),
      [[helloId, "message", { text: "hello" }, a.client.socketId]],
    );
  });
}

async function authenticatedUserLeaves(a, b) {
  await check("members_see_a_leaving_member_leave", async () => {
    await b.run("destroy");
    const update = await a.frame(
      "presence_update",
      (f) => f.payload.action === "leave",
    );
    assert.deepEqual(update.payload, { action: "leave", presence: b.client });
    // destroy() on the last channel makes the SDK close its socket.
    const close = await b.socket("close");
    assert.equal(close.code, 1000);
    await a.askHistory();
    await a.run("presence");
    const presence = await a.waitFor((l) => l.type === "presence", "presence list");
    assert.deepEqual(presence.members, [a.client.socketId]);
    const leaves = a
      .frames("presence_update")
      .filter((f) => f.payload.action === "leave");
    assert.equal(leaves.length, 1);
  });
  await check("sdk_raised_connected_once_and_joined_once", async () => {
    for (const user of [a, b]) {
      const connected = user.frames("connection_status").filter(isConnected);
      assert.equal(connected.length, 1, `${user.name} connection_status`);
      assert.equal(user.frames("join").length, 1, `${user.name} join frames`);
      assert.deepEqual(user.errorFrames(), [], `${user.name} error frames`);
      assert.equal(user.lines.filter((l) => l.event === "created").length, 1);
    }
  });
}

async function unknownHashIsRefused(c) {
  await check("unknown_hash_gets_invalid_hash_then_close_1008", async () => {
    const error = await c.waitFor((l) => l.type === "error_frame", "error frame");
    assert.equal(error.frame.payload.code, "invalid_hash");
    const close = await c.socket("close");
    assert.equal(close.code, 1008);
  });
  await check("unknown_hash_is_not_retried", async () => {
    const close = await c.socket("close");
    const waited = Date.now() - close.receivedAt;
    await new Promise((resolve) => {
      setTimeout(resolve, Math.max(0, RECONNECT_WATCH_MS - waited));
    });
    assert.equal(c.lines.filter((l) => l.event === "created").length, 1);
    const statuses = c.frames("connection_status").map((f) => f.payload.status);
    assert.deepEqual(statuses, ["connected", "disconnected"]);
  });
}

async function main() {
  const a = new User("A");
  const b = new User("B");
  const c = new User("C");
  const users = [a, b, c];
  const deadline = setTimeout(() => {
    print({ check: "scenario_finishes_in_time", ok: false, error: "timed out" });
    finish(users, 1);
  }, SCENARIO_MS);

  try {
    // The refused user starts first, so its watch for a reconnect runs while
    // the others chat.
    await c.run("join", {
      config: clientConfig(UNKNOWN_HASH),
      name: CHANNEL,
      options: JOIN_OPTIONS,
    });
    await anonymousUserJoins(a);
    await authenticatedUserJoins(a, b);
    await exchangeMessages(a, b);
    await authenticatedUserLeaves(a, b);
    await unknownHashIsRefused(c);
  } catch {
    clearTimeout(deadline);
    finish(users, 1);
    return;
  }
  clearTimeout(deadline);
  print({ summary: "pass", checks: passed });
  finish(users, 0);
}

/**
 * Stop every user; on failure print what each of them saw first.
 * @param {User[]} users
 * @param {number} status
 */
function finish(users, status) {
  if (status !== 0) {
    for (const user of users) {
      print({ diagnostic: user.name, lines: user.lines, stderr: user.stderr });
    }
  }
  for (const user of users) {
    user.stop();
  }
  process.exit(status);
}

main();

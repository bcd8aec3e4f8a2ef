/**
 * One simulated user of the hosted SDK, driven over stdin/stdout JSON lines.
 *
 * The SDK keeps one socket per loaded module, so each user is a process of
 * its own. Commands arrive on stdin, one JSON object per line; everything the
 * SDK hands to `channel.on()` and everything that happens to the socket goes
 * to stdout, one JSON object per line:
 *
 *   {"type": "frame", "frame": {...}}          a frame given to on()'s handler
 *   {"type": "error_frame", "frame": {...}}    a frame given to on()'s onError
 *   {"type": "socket", "event": "open", ...}   from local_websocket.js
 *   {"type": "done", "command": "..."}         a command was carried out
 *   {"type": "failed", "command": "...", "message": "..."}
 *
 * Environment: SDK_TEST_PORT (the local server's port).
 */
"use strict";

const readline = require("node:readline");

const { installLocalWebSocket } = require("./local_websocket");

installLocalWebSocket(Number(process.env.SDK_TEST_PORT), (event) => {
  emit({ type: "socket", ...event });
});

// Loaded after the global WebSocket exists, although the SDK only reads it
// when it connects.
const { XanoClient, XanoObjectStorage } = require("@xano/js-sdk");

let channel = null;

/**
 * Write one JSON line to the parent.
 * @param {object} line
 */
function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const COMMANDS = {
  /** Make the client and the channel; on() makes the SDK connect. */
  join({ config, name, options }) {
    // XanoClient stores tokens in localStorage unless told otherwise, and
    // Node has none: an in-memory storage stands in for it.
    const client = new XanoClient({
      ...config,
      storage: new XanoObjectStorage(),
    });
    channel = client.channel(name, options);
    channel.on(
      (frame) => emit({ type: "frame", frame }),
      (frame) => emit({ type: "error_frame", frame }),
    );
  },

  /** Send a message to the channel (a direct one with `socketId`). */
  message({ payload, options }) {
    channel.message(payload, options);
  },

  /** Send a direct message through the SDK's presence list. */
  messagePresent({ socketId, payload }) {
    const member = channel.getPresence().find((c) => c.socketId === socketId);
    if (member === undefined) {
      throw new Error(`${socketId} is not in the SDK's presence list`);
    }
    member.message(payload);
  },

  /** Report the SDK's presence list. */
  presence() {
    const members = channel.getPresence().map((member) => member.socketId);
    emit({ type: "presence", members });
  },

  /** Ask for the channel's history. */
  history() {
    channel.history();
  },

  /** Leave the channel; the SDK closes its socket with its last channel. */
  destroy() {
    channel.destroy();
  },

  exit() {
    process.exit(0);
  },
};

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line);
  try {
    COMMANDS[command.command](command);
    emit({ type: "done", command: command.command });
  } catch (error) {
    emit({ type: "failed", command: command.command, message: error.stack });
  }
});
// The parent going away ends the user too.
lines.on("close", () => process.exit(0));

/**
 * A global WebSocket for Node that sends the hosted SDK to our local server.
 *
 * The SDK always opens `wss://<hostname>/rt/<connection hash>` with the
 * global WebSocket, which Node 20 lacks. Installing this class as
 * `globalThis.WebSocket` keeps the SDK's code untouched: only the URL is
 * rewritten to `ws://127.0.0.1:<port>/rt/<connection hash>`, and every socket
 * reports what happened to it through a callback.
 */
"use strict";

const { WebSocket: NodeWebSocket } = require("ws");

const SDK_URL = /^wss:\/\/[^/]+(\/rt\/.*)$/;

/**
 * Install a global WebSocket that connects to `127.0.0.1:<port>` instead.
 * @param {number} port The local server's port.
 * @param {(event: object) => void} report Called with each socket event.
 * @returns {typeof NodeWebSocket} The installed class.
 */
function installLocalWebSocket(port, report) {
  let opened = 0;

  class LocalWebSocket extends NodeWebSocket {
    constructor(url, protocols) {
      const match = SDK_URL.exec(String(url));
      if (match === null) {
        throw new Error(`unexpected WebSocket URL from the SDK: ${url}`);
      }
      super(`ws://127.0.0.1:${port}${match[1]}`, protocols);
      opened += 1;
      const number = opened;
      report({ event: "created", number, url: String(url), protocols });
      this.addEventListener("open", () => {
        report({ event: "open", number, protocol: this.protocol });
      });
      this.addEventListener("close", (close) => {
        report({
          event: "close",
          number,
          code: close.code,
          reason: close.reason,
        });
      });
      this.addEventListener("error", (error) => {
        report({ event: "error", number, message: error.message });
      });
    }
  }

  globalThis.WebSocket = LocalWebSocket;
  return LocalWebSocket;
}

module.exports = { installLocalWebSocket };

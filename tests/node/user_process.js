/**
 * A simulated user of the SDK: one `sdk_user.js` process, seen from outside.
 *
 * Commands go to the process's stdin; every JSON line it prints is kept, so
 * a test can wait for a line or look back over all of them.
 */
"use strict";

const { spawn } = require("node:child_process");
const path = require("node:path");
const readline = require("node:readline");

// Generous bound on waiting for something a user should see; not a speed check.
const WAIT_MS = 10000;

/** One `sdk_user.js` process and every line it has written. */
class User {
  /**
   * @param {string} name A label for messages.
   */
  constructor(name) {
    this.name = name;
    this.lines = [];
    this.stderr = "";
    this.waiters = [];
    this.exited = null;
    // The client object the server sent in this user's join frame.
    this.client = null;
    this.process = spawn(process.execPath, [path.join(__dirname, "sdk_user.js")], {
      env: process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    readline
      .createInterface({ input: this.process.stdout })
      .on("line", (text) => this.receive(text));
    this.process.stderr.on("data", (chunk) => {
      this.stderr += chunk;
    });
    this.process.on("exit", (code, signal) => {
      this.exited = `exited with ${code ?? signal}`;
      for (const waiter of this.waiters.splice(0)) {
        waiter.reject(new Error(`${this.name} ${this.exited}: ${this.stderr}`));
      }
    });
  }

  receive(text) {
    const line = { ...JSON.parse(text), receivedAt: Date.now() };
    this.lines.push(line);
    const index = this.lines.length - 1;
    for (const waiter of [...this.waiters]) {
      if (index >= waiter.from && waiter.predicate(line)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }

  /**
   * Resolve with the first line from index `from` on that matches.
   * @param {(line: object) => boolean} predicate
   * @param {string} what Names the awaited line in a failure.
   * @param {number} from Index of the first line to consider.
   * @returns {Promise<object>}
   */
  waitFor(predicate, what, from = 0) {
    const found = this.lines.slice(from).find(predicate);
    if (found !== undefined) {
      return Promise.resolve(found);
    }
    if (this.exited !== null) {
      return Promise.reject(new Error(`${this.name} ${this.exited}`));
    }
    return new Promise((resolve, reject) => {
      const waiter = { predicate, from, resolve, reject };
      this.waiters.push(waiter);
      setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) {
          this.waiters.splice(index, 1);
          reject(new Error(`${this.name} saw no ${what} within ${WAIT_MS} ms`));
        }
      }, WAIT_MS);
    });
  }

  /**
   * Resolve with the first frame the SDK gave to on() that matches.
   * @param {string} action
   * @param {(frame: object) => boolean} [matches]
   * @param {number} [from]
   * @returns {Promise<object>}
   */
  async frame(action, matches = () => true, from = 0) {
    const line = await this.waitFor(
      (l) => l.type === "frame" && l.frame.action === action && matches(l.frame),
      `${action} frame`,
      from,
    );
    return line.frame;
  }

  /**
   * Resolve with the first report of the socket event `event`.
   * @param {string} event
   * @returns {Promise<object>}
   */
  socket(event) {
    return this.waitFor(
      (l) => l.type === "socket" && l.event === event,
      `socket ${event}`,
    );
  }

  /** Every frame the SDK gave to on()'s handler, with `action`. */
  frames(action) {
    return this.lines
      .filter((l) => l.type === "frame" && l.frame.action === action)
      .map((l) => l.frame);
  }

  /** Every frame the SDK gave to on()'s error handler. */
  errorFrames() {
    return this.lines.filter((l) => l.type === "error_frame").map((l) => l.frame);
  }

  /**
   * Carry out a command in the user's process; resolve once it is done.
   * @param {string} command A name from sdk_user.js's COMMANDS.
   * @param {object} [fields]
   * @returns {Promise<object>}
   */
  async run(command, fields = {}) {
    const from = this.lines.length;
    this.process.stdin.write(`${JSON.stringify({ command, ...fields })}\n`);
    const line = await this.waitFor(
      (l) => (l.type === "done" || l.type === "failed") && l.command === command,
      `answer to ${command}`,
      from,
    );
    if (line.type === "failed") {
      throw new Error(`${this.name} ${command} failed: ${line.message}`);
    }
    return line;
  }

  /** Ask the server for the channel's history; resolve with its answer. */
  async askHistory() {
    const from = this.lines.length;
    await this.run("history");
    return this.frame("history", () => true, from);
  }

  stop() {
    if (this.exited === null) {
      this.process.kill();
    }
  }
}

module.exports = { User };

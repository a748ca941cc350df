// What the tests share: the Rust example server (examples/topics.rs) as a child process,
// a TCP proxy in front of it that can cut every connection (a network that drops), and
// waiting with a deadline.

import { spawn, spawnSync } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The server binary: TOPICS_SERVER, or the debug build of the example, built now. */
export const SERVER = process.env.TOPICS_SERVER ?? buildServer();

/** Builds examples/topics.rs with cargo (nothing to do when it is up to date). */
function buildServer() {
  const repository = path.join(here, "..", "..");
  const built = spawnSync("cargo", ["build", "--quiet", "--example", "topics"], {
    cwd: repository,
    stdio: "inherit",
  });
  if (built.error || built.status !== 0) {
    throw new Error(
      `building the topics example failed (${built.error?.message ?? built.status}): ` +
        "these tests need cargo, or TOPICS_SERVER naming a server binary",
    );
  }
  const exe = process.platform === "win32" ? "topics.exe" : "topics";
  return path.join(repository, "target", "debug", "examples", exe);
}

/** Fails with `what` if `promise` has not settled within `ms`. */
export function within(promise, what, ms = 10_000) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves with the next `event` of `client` (that `accept` accepts). */
export function next(client, event, accept = () => true) {
  return within(
    new Promise((resolve) => {
      const off = client.on(event, (detail) => {
        if (accept(detail)) {
          off();
          resolve(detail);
        }
      });
    }),
    `the ${event} event`,
  );
}

/** Starts the example server on a free port, with `env` beside PORT=0. */
export async function startServer(env = {}) {
  const child = spawn(SERVER, [], {
    // The tests publish in bursts, faster than a client may by default.
    env: { ...process.env, PORT: "0", PUBLISH_RATE: "100000", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await within(
    new Promise((resolve, reject) => {
      let seen = "";
      child.stdout.on("data", (chunk) => {
        seen += chunk;
        const found = seen.match(/ws:\/\/localhost:(\d+)\/topics/);
        if (found) resolve(Number(found[1]));
      });
      child.on("exit", (code) => reject(new Error(`the server exited (${code}): ${seen}`)));
      child.on("error", reject);
    }),
    `the server at ${SERVER} to start`,
  );
  return {
    port,
    url: `ws://127.0.0.1:${port}/topics`,
    async stats() {
      const response = await fetch(`http://127.0.0.1:${port}/stats`);
      return response.json();
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await within(exited, "the server to exit");
    },
  };
}

/**
 * A TCP proxy to `port`: `cut()` drops every connection through it, `refuse(true)` makes
 * it drop new ones as they come (a network that is down).
 */
export async function startProxy(port) {
  const sockets = new Set();
  let refusing = false;
  // While stalled, bytes are held in both directions and nothing is closed: a network
  // that went away without a word.
  let stalled = false;
  const held = [];
  const server = net.createServer((inbound) => {
    if (refusing) {
      inbound.destroy();
      return;
    }
    const outbound = net.connect(port, "127.0.0.1");
    for (const [a, b] of [
      [inbound, outbound],
      [outbound, inbound],
    ]) {
      sockets.add(a);
      a.on("data", (chunk) => (stalled ? held.push([b, chunk]) : b.write(chunk)));
      a.on("close", () => {
        sockets.delete(a);
        b.destroy();
      });
      a.on("error", () => b.destroy());
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxyPort = server.address().port;
  return {
    url: `ws://127.0.0.1:${proxyPort}/topics`,
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    refuse(on) {
      refusing = on;
    },
    stall(on) {
      stalled = on;
      if (!on) for (const [to, chunk] of held.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

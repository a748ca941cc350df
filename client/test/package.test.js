// The package as users load it: the CommonJS build `require` gets is the ES module's code
// with the same exports, and package.json points each condition at a file that exists.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esm from "../src/index.js";
import { build } from "../scripts/build.mjs";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

test("require() gets the same client as import", () => {
  const cjs = createRequire(import.meta.url)(build());
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  assert.equal(cjs.PROTOCOL, esm.PROTOCOL);
  // It works: a client on a WebSocket that records what it is given.
  let made;
  class Socket {
    constructor(url, protocol) {
      made = { url, protocol };
    }
    close() {}
  }
  const client = new cjs.TopicsClient("ws://x/topics", { WebSocket: Socket });
  client.connect();
  assert.deepEqual(made, { url: "ws://x/topics", protocol: esm.PROTOCOL });
  assert.equal(client.state, "connecting");
  client.close();
  assert.ok(new cjs.TopicsError("c", "m") instanceof Error);
});

test("package.json names files that exist, for import, require and types", () => {
  build();
  const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const entry = manifest.exports["."];
  for (const file of [
    manifest.main,
    manifest.module,
    manifest.types,
    entry.import.types,
    entry.import.default,
    entry.require.types,
    entry.require.default,
  ]) {
    assert.ok(existsSync(path.join(root, file)), `${file} exists`);
  }
  for (const field of ["name", "version", "description", "license", "author", "homepage", "keywords", "engines", "sideEffects"]) {
    assert.ok(field in manifest, `package.json has ${field}`);
  }
});

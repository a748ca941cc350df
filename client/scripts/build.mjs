// Writes the CommonJS build beside the ES module: dist/index.cjs from src/index.js (its
// exports made `module.exports`), and dist/index.d.cts, the same types for `require`.
// Run by `npm run build` (and so by `npm pack` and `npm install` from git); the tests
// run it too, so that what they load is the source as it is.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Builds dist/ from src/; returns the path of the CommonJS module. */
export function build() {
  const source = readFileSync(path.join(root, "src", "index.js"), "utf8");
  const names = [];
  const body = source.replace(
    /^export (class|const|function) ([A-Za-z_$][\w$]*)/gm,
    (_, kind, name) => {
      names.push(name);
      return `${kind} ${name}`;
    },
  );
  if (/^export /m.test(body)) {
    throw new Error("src/index.js has an export this build does not know how to turn into CommonJS");
  }
  const dist = path.join(root, "dist");
  mkdirSync(dist, { recursive: true });
  const out = path.join(dist, "index.cjs");
  writeFileSync(
    out,
    `"use strict";\n// Built from src/index.js by scripts/build.mjs: do not edit.\n${body}\nmodule.exports = { ${names.join(", ")} };\n`,
  );
  writeFileSync(
    path.join(dist, "index.d.cts"),
    readFileSync(path.join(root, "src", "index.d.ts"), "utf8"),
  );
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${path.relative(process.cwd(), build())}`);
}

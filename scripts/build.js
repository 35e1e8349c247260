#!/usr/bin/env node
// Builds dist/: TypeScript compiled by tsc (incrementally), then the files under src/ that are
// not TypeScript (Lua scripts) copied beside the modules that read them.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });

function* assets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* assets(path);
    else if (!entry.name.endsWith(".ts")) yield path;
  }
}
for (const file of assets(join(root, "src"))) {
  const target = join(root, "dist", relative(join(root, "src"), file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}

#!/usr/bin/env node
// Builds dist/: TypeScript compiled by tsc (incrementally), the files under src/ that are not
// TypeScript (Lua scripts) copied beside the modules that read them, and the dashboard bundled
// by Vite into dist/dashboard/ when its sources changed (so `npm start` serves it without a
// build at run time, and offline: everything it needs is in those files).
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
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

/** The newest modification time under a directory. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

const dashboard = join(root, "dashboard");
const stamp = join(root, "dist", "dashboard", ".built");
const stale = !existsSync(stamp) || statSync(stamp).mtimeMs < newest(dashboard);
if (stale) {
  let vite;
  try {
    vite = await import("vite");
  } catch {
    // An install without dev dependencies: the gateway runs, /dashboard says it was not built.
    console.warn("dashboard not built: vite is not installed (npm install without --omit=dev builds it)");
  }
  if (vite) {
    await vite.build({
      root: dashboard,
      base: "/dashboard/",
      logLevel: "warn",
      configFile: false,
      build: { outDir: join(root, "dist", "dashboard"), emptyOutDir: true, chunkSizeWarningLimit: 1000 },
    });
    writeFileSync(stamp, new Date().toISOString());
  }
}

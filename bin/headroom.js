#!/usr/bin/env node
// The package's entry point: the compiled CLI in dist/ (built by `npm install` through the
// `prepare` script, or `npm run build`). TypeScript is never compiled at run time here.
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("headroom: dist/ is missing; run `npm run build` (npm install does it too)\n");
  process.exit(1);
}
await import(main.href);

#!/usr/bin/env node
// The package's entry point. headroom runs its TypeScript sources directly through tsx's
// loader, so there is no build step between a clone and `npm start`.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");

/**
 * GET /dashboard: the operator's web dashboard, files built at install time (scripts/build.js)
 * and read into memory when the server starts, so serving them needs no build and no network.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
};

/** dist/dashboard beside the compiled modules, or from the sources (tests run them with tsx). */
function builtDirectory(): string | undefined {
  const here = fileURLToPath(new URL(".", import.meta.url));
  return [join(here, "..", "dashboard"), join(here, "..", "..", "dist", "dashboard")].find((dir) =>
    existsSync(join(dir, "index.html")),
  );
}

function readAll(dir: string, base = dir, files = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readAll(path, base, files);
    else if (!entry.name.startsWith("."))
      files.set(relative(base, path).split("\\").join("/"), readFileSync(path));
  }
  return files;
}

export function registerDashboard(app: FastifyInstance): void {
  const dir = builtDirectory();
  const files = dir ? readAll(dir) : new Map<string, Buffer>();
  app.get("/dashboard", (_request, reply) => {
    reply.redirect("/dashboard/");
  });
  app.get("/dashboard/*", (request, reply) => {
    const wanted = (request.params as { "*": string })["*"] || "index.html";
    const path = files.has(wanted) ? wanted : "index.html";
    const body = files.get(path);
    if (!body) {
      reply
        .status(503)
        .type("text/plain; charset=utf-8")
        .send("The dashboard was not built: run npm install (with dev dependencies) to build it.");
      return;
    }
    // Hashed assets never change; the page itself is always asked again.
    reply.header(
      "cache-control",
      path.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache",
    );
    reply.type(TYPES[extname(path)] ?? "application/octet-stream").send(body);
  });
}

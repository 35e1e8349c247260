/** `headroom serve` (= `npm start`): run the gateway until SIGINT/SIGTERM, then shut down gracefully. */
import { relative } from "node:path";
import type { Command } from "commander";
import { readEnv } from "../config/env.ts";
import { loadConfig } from "../config/load.ts";
import type { AdminToken } from "../edge/admin/admin-token.ts";
import { UsageError } from "./options.ts";

interface ServeOptions {
  config?: string;
  host?: string;
  port?: string;
  dataDir?: string;
  upstream?: string;
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port: not a port number: ${text}`);
  return port;
}

/**
 * HEADROOM_CLOCK_START=<ISO instant> starts the gateway's clock there and lets it run at normal
 * speed: for demos and rehearsals of a dated policy change ("what happens on the deal's date").
 */
function clockFrom(start: string | undefined): () => number {
  if (!start) return Date.now;
  const offset = Date.parse(start) - Date.now();
  return () => Date.now() + offset;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("run the gateway (embedded defaults: simulated GPU pool, SQLite under .headroom/)")
    .option("--config <file>", "configuration file (YAML)")
    .option("--host <host>", "address to listen on (default 127.0.0.1)")
    .option("--port <port>", "port to listen on (default 8787; 0 picks a free one)")
    .option("--data-dir <dir>", "where headroom keeps its database (default .headroom/)")
    .option(
      "--upstream <url>",
      "send every model to this Anthropic-compatible API (key: HEADROOM_UPSTREAM_KEY or ANTHROPIC_API_KEY)",
    )
    .action(async (options: ServeOptions) => {
      // The gateway (fastify, stores, upstreams) loads only when it is served.
      const { createGateway, startGateway } = await import("../gateway.ts");
      const config = loadConfig({
        file: options.config,
        overrides: {
          host: options.host,
          port: parsePort(options.port),
          dataDir: options.dataDir,
          upstreamUrl: options.upstream,
        },
      });
      const gateway = await createGateway(config, { clock: clockFrom(readEnv().HEADROOM_CLOCK_START) });
      const running = await startGateway(gateway).catch(async (error: NodeJS.ErrnoException) => {
        const { host, port } = config.server;
        const why: Record<string, string> = {
          EADDRINUSE: `port ${port} on ${host} is already in use: stop the other server, or give another with --port`,
          EACCES: `port ${port} on ${host} needs privileges this process does not have: choose one above 1023 with --port`,
          EADDRNOTAVAIL: `${host} is not an address of this machine: give another with --host`,
        };
        const message = error.code ? why[error.code] : undefined;
        if (!message) throw error;
        await gateway.stores.close();
        await gateway.limiter.close();
        throw new UsageError(message);
      });
      const dataDirFlag =
        config.server.data_dir === ".headroom" ? "" : ` --data-dir ${config.server.data_dir}`;
      const upstreams = [...new Set(config.models.map((model) => model.upstream))].join(", ");
      const capacity = config.capacity ? await capacityLine(config.capacity, gateway.clock()) : [];
      process.stdout.write(
        [
          "",
          `headroom is listening on ${running.url}`,
          `  upstream: ${config.upstream_override ? `${config.upstreams.override?.type} ${running.gateway.config.upstreams.override && "url" in running.gateway.config.upstreams.override ? running.gateway.config.upstreams.override.url : ""}` : upstreams}`,
          `  data:     ${gateway.stores.location}`,
          ...capacity,
          "",
          "Get a key (in another terminal):",
          `  npx headroom keys create --account demo --plan pro${dataDirFlag}`,
          "Then point a client at it:",
          `  ANTHROPIC_BASE_URL=${running.url} ANTHROPIC_API_KEY=<key> claude`,
          `  OPENAI_BASE_URL=${running.url}/v1 OPENAI_API_KEY=<key> …`,
          "",
          ...adminLines(gateway.adminToken, running.url),
        ].join("\n"),
      );
      let signals = 0;
      const stop = (signal: string) => {
        signals++;
        if (signals > 1) process.exit(130);
        gateway.logger.info(
          { signal },
          "shutting down: finishing in-flight requests (press Ctrl-C again to force)",
        );
        running.close().then(
          () => process.exit(0),
          (error: unknown) => {
            gateway.logger.error({ err: error }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });
}

/** How to reach the admin API; a generated token is shown this once (only its hash is kept). */
function adminLines(token: AdminToken, url: string): string[] {
  const api = `Admin API: ${url}/admin/v1 (OpenAPI: ${url}/admin/v1/openapi.json)`;
  if (token.generated) {
    return [
      api,
      "Admin token, shown only this once (only its hash is stored; set HEADROOM_ADMIN_TOKEN to choose your own):",
      `  ${token.generated}`,
      "",
    ];
  }
  const from =
    token.source === "environment" ? "HEADROOM_ADMIN_TOKEN" : "the token printed at the first start";
  return [`${api}, with ${from}.`, ""];
}

/** What the simulated pool stands for: the fleet file, its share and the streams it runs now. */
async function capacityLine(capacity: { fleet: string; share: number }, nowMs: number): Promise<string[]> {
  const { loadFleetCapacity } = await import("../capacity/fleet-capacity.ts");
  const fleet = loadFleetCapacity(capacity.fleet);
  const streams = fleet.streamsAt(nowMs, capacity.share);
  const file = relative(process.cwd(), capacity.fleet) || capacity.fleet;
  return [
    `  capacity: ${file} × ${capacity.share} (${streams.toLocaleString("en-US")} concurrent streams now; \`headroom fleet show ${file}\`)`,
  ];
}

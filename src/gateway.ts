/**
 * The composition root: builds every part of a running gateway from its configuration, and
 * takes it down in order (stop accepting, let streams finish up to the grace time, flush the
 * ledger, close the database).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import type { Config } from "./config/schema.ts";
import type { Exchange } from "./edge/exchange.ts";
import { buildServer } from "./edge/server.ts";
import type { Ledger } from "./ledger/usage-event.ts";
import { openDatabase, type SqliteDatabase } from "./stores/sqlite.ts";
import { SqliteAccountStore } from "./stores/sqlite-accounts.ts";
import { SqliteLedger } from "./stores/sqlite-ledger.ts";
import { createUpstreams } from "./upstreams/registry.ts";
import { ModelRouter } from "./upstreams/routing.ts";
import type { Upstream } from "./upstreams/upstream.ts";

export interface Gateway {
  config: Config;
  logger: Logger;
  router: ModelRouter;
  upstreams: Map<string, Upstream>;
  db: SqliteDatabase;
  accounts: SqliteAccountStore;
  ledger: Ledger;
  /** Requests between authentication and their ledger record. */
  inFlight: Set<Exchange>;
}

export function createGateway(
  config: Config,
  options: { logger?: Logger; env?: NodeJS.ProcessEnv } = {},
): Gateway {
  const logger = options.logger ?? pino({ level: config.server.log_level });
  const db = openDatabase(config.server.data_dir);
  return {
    config,
    logger,
    router: new ModelRouter(config),
    upstreams: createUpstreams(config, options.env ?? process.env),
    db,
    accounts: new SqliteAccountStore(db),
    ledger: new SqliteLedger(db),
    inFlight: new Set(),
  };
}

export interface RunningGateway {
  gateway: Gateway;
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startGateway(gateway: Gateway): Promise<RunningGateway> {
  const app = buildServer(gateway);
  const { host, port } = gateway.config.server;
  await app.listen({ host, port });
  const address = app.server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= shutdown(gateway, app);
    return closing;
  };
  return { gateway, app, url: `http://${shownHost}:${boundPort}`, close };
}

async function shutdown(gateway: Gateway, app: FastifyInstance): Promise<void> {
  const grace = gateway.config.server.shutdown_grace_ms;
  const closed = app.close();
  await waitUntil(() => gateway.inFlight.size === 0, grace);
  for (const exchange of gateway.inFlight) {
    exchange.shuttingDown = true;
    exchange.abort();
  }
  // Aborted streams end with an error event within a few milliseconds.
  await waitUntil(() => gateway.inFlight.size === 0, 1_000);
  // Fastify sweeps idle keep-alive sockets once, at close(); sockets that went idle since (or
  // that Node still counts as busy after a client aborted a stream on them) would hold the
  // server open until their keep-alive timeout. No exchange is running any more, so whatever
  // is left after a short wait is cut.
  app.server.closeIdleConnections();
  const drained = await Promise.race([closed.then(() => true), sleep(200).then(() => false)]);
  if (!drained) app.server.closeAllConnections();
  await closed;
  await Promise.all([...gateway.upstreams.values()].map((upstream) => upstream.close?.()));
  await gateway.ledger.close();
  gateway.db.close();
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await sleep(10);
}

/**
 * The composition root: builds every part of a running gateway from its configuration, and
 * takes it down in order (stop accepting, let streams finish up to the grace time, flush the
 * ledger, close the database).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import type { FastifyInstance } from "fastify";
import type { Cluster, Redis } from "ioredis";
import pino, { type Logger } from "pino";
import { IdentityCache } from "./accounts/identity-cache.ts";
import { AdmissionController } from "./admission/admission-controller.ts";
import { loadFleetCapacity } from "./capacity/fleet-capacity.ts";
import { type HeadroomEnv, readEnv } from "./config/env.ts";
import { ConfigError } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { type AdminToken, resolveAdminToken } from "./edge/admin/admin-token.ts";
import { listenForMetrics } from "./edge/metrics-route.ts";
import { buildServer } from "./edge/server.ts";
import type { EdgeServices, FleetShare } from "./edge/services.ts";
import { Enforcer } from "./enforcement/enforcer.ts";
import { rebuildWindows } from "./enforcement/rebuild-windows.ts";
import type { LimiterStore } from "./limits/limiter-store.ts";
import { type CapacityProvider, ConstantCapacity } from "./plans/capacity-provider.ts";
import { PolicyBook } from "./plans/policy-book.ts";
import { TokenCountPool } from "./protocol/tokens/count-pool.ts";
import { LeasedLimiterStore } from "./stores/leased-limiter.ts";
import { MemoryLimiterStore } from "./stores/memory-limiter.ts";
import { openStores } from "./stores/open-stores.ts";
import { connectRedis, connectRedisCluster, whenReady } from "./stores/redis-connection.ts";
import { RedisLimiterStore } from "./stores/redis-limiter.ts";
import { ResilientLimiterStore } from "./stores/resilient-limiter.ts";
import { claimServeLock } from "./stores/serve-lock.ts";
import type { Stores } from "./stores/store.ts";
import { Metrics } from "./telemetry/metrics.ts";
import { createTracing, type Tracing } from "./telemetry/tracing.ts";
import { createUpstreams } from "./upstreams/registry.ts";
import { ModelRouter } from "./upstreams/routing.ts";
import type { FleetSizing } from "./upstreams/simulated.ts";
import type { Upstream } from "./upstreams/upstream.ts";

/** A running gateway: what the edge uses (`EdgeServices`) and what only the root manages. */
export interface Gateway extends EdgeServices {
  upstreams: Map<string, Upstream>;
  /** Accounts, keys, policies and the ledger: SQLite or PostgreSQL. */
  stores: Stores;
  limiter: LimiterStore;
  tracing: Tracing;
  /** The shared Redis store under the limiter (with or without leases), when REDIS_URL is set. */
  redis: RedisLimiterStore | undefined;
  /** The breaker in front of the shared store, when there is one. */
  resilient: ResilientLimiterStore | undefined;
  /** Which store decides limits, in words, for the admin API's live view. */
  limiterKind: string;
  policies: PolicyBook;
  /** The operator's token for the admin API (admin/admin-token.ts). */
  adminToken: AdminToken;
  /** Resolves once external stores (Redis) can take requests. */
  ready: Promise<void>;
  admission: Map<string, AdmissionController>;
}

/** Simulated pools know their capacity (slots, plus a queue the highest priority may use);
 * HTTP upstreams have one when configured with capacity_concurrency. */
function createAdmission(config: Config, fleet?: FleetSizing): Map<string, AdmissionController> {
  const controllers = new Map<string, AdmissionController>();
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    if (upstream.type === "simulated") {
      const slots = fleet ? fleet.streamsAt(fleet.clock()) : upstream.slots;
      const capacity = fleet ? () => fleet.streamsAt(fleet.clock()) : upstream.slots;
      controllers.set(name, new AdmissionController({ capacity, ceiling: (slots + upstream.queue) / slots }));
    } else if (upstream.capacity_concurrency) {
      controllers.set(name, new AdmissionController({ capacity: upstream.capacity_concurrency }));
    }
  }
  return controllers;
}

export interface GatewayOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  clock?: () => number;
  capacity?: CapacityProvider;
  /** Receives every request's span (tests pass OpenTelemetry's in-memory exporter). */
  spanExporter?: SpanExporter;
}

/**
 * One Redis URL is a standalone server; several, comma-separated, are seed nodes of a Redis
 * Cluster (every limiter key is hash-tagged, so each decision stays on one node).
 */
function connectLimiterRedis(urls: string, timeoutMs: number): Redis | Cluster {
  const seeds = urls
    .split(",")
    .map((url) => url.trim())
    .filter(Boolean);
  if (seeds.length === 1) return connectRedis(seeds[0] as string, { timeoutMs });
  const nodes = seeds.map((seed) => {
    try {
      const url = new URL(seed);
      return { host: url.hostname, port: Number(url.port || 6379) };
    } catch {
      throw new ConfigError(
        `REDIS_URL: "${seed}" is not a URL (cluster seeds are comma-separated redis:// URLs)`,
      );
    }
  });
  return connectRedisCluster(nodes, { timeoutMs });
}

/**
 * REDIS_URL selects the shared Redis limiter; otherwise limits live in this process.
 * HEADROOM_LIMITER_LEASE_FRACTION (e.g. 0.005) lets this gateway take leases of that share of a
 * key's limits from Redis and decide within them locally (stores/leased-limiter.ts). A shared
 * store sits behind a breaker that fails open or closed (stores/resilient-limiter.ts).
 */
function createLimiter(
  config: Config,
  settings: HeadroomEnv,
  clock: () => number,
  logger: Logger,
  metrics: Metrics,
): Pick<Gateway, "limiter" | "redis" | "resilient" | "limiterKind" | "ready"> {
  if (!settings.REDIS_URL) {
    return {
      limiter: new MemoryLimiterStore({ now: clock }),
      redis: undefined,
      resilient: undefined,
      limiterKind: "memory",
      ready: Promise.resolve(),
    };
  }
  const client = connectLimiterRedis(settings.REDIS_URL, settings.HEADROOM_LIMITER_TIMEOUT_MS);
  client.on("error", () => {}); // reported through LimiterUnavailableError on use
  const redis = new RedisLimiterStore(client, { prefix: settings.HEADROOM_REDIS_PREFIX });
  const fraction = settings.HEADROOM_LIMITER_LEASE_FRACTION;
  const shared = fraction > 0 ? new LeasedLimiterStore(redis, { fraction }) : redis;
  metrics.limiterStoreUp.set(1);
  const resilient = new ResilientLimiterStore(shared, {
    onFailure: config.limiter.on_store_failure,
    probeMs: config.limiter.probe_interval_ms,
    clock,
    logger,
    onError: () => metrics.limiterStoreErrors.inc(),
    onStateChange: (up) => {
      metrics.limiterStoreUp.set(up ? 1 : 0);
      if (!up) metrics.limiterStoreOutages.inc();
    },
  });
  return {
    limiter: resilient,
    redis,
    resilient,
    limiterKind: fraction > 0 ? "redis with leases" : "redis",
    ready: whenReady(client).catch((error: unknown) => {
      throw new ConfigError(
        `Redis at ${whereIs(settings.REDIS_URL as string)} did not answer (${(error as Error).message}): start it, or correct REDIS_URL (unset it to keep limits in this process).`,
      );
    }),
  };
}

/**
 * Builds the gateway from its configuration: opens (and migrates) the durable stores — SQLite
 * under the data directory, or PostgreSQL when DATABASE_URL says so — and loads the policies.
 */
export async function createGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? pino({ level: config.server.log_level });
  const rawEnv = options.env ?? process.env;
  const env = readEnv(rawEnv);
  const clock = options.clock ?? Date.now;
  const stores = await openStores({
    dataDir: config.server.data_dir,
    env: rawEnv,
    logger,
    server: true,
    onMigrated: ({ from, to }) => logger.info({ from, to }, "database schema migrated"),
  });
  const metrics = new Metrics();
  const limiting = createLimiter(config, env, clock, logger, metrics);
  // Limits in this process and a SQLite data directory: one gateway serves it (stores/serve-lock.ts).
  if (stores.engine === "sqlite" && limiting.limiterKind === "memory") {
    let release: () => void;
    try {
      release = claimServeLock(config.server.data_dir);
    } catch (error) {
      await stores.close();
      await limiting.limiter.close();
      throw error;
    }
    const closeStores = stores.close.bind(stores);
    stores.close = async () => {
      release();
      await closeStores();
    };
  }
  const policies = new PolicyBook(stores.policies, undefined, undefined, (error) =>
    logger.warn({ err: error }, "could not re-read policies; keeping the ones loaded"),
  );
  await policies.refresh();
  // One truth: with a fleet configured, the same capacity timeline sizes the simulated pool and
  // scales the policies.
  const fleetCapacity = config.capacity ? loadFleetCapacity(config.capacity.fleet) : undefined;
  const share = config.capacity?.share ?? 1;
  const sizing: FleetSizing | undefined = fleetCapacity
    ? {
        streamsAt: (nowMs) => fleetCapacity.streamsAt(nowMs, share),
        // speeds: models keeps each model's own simulation speeds (no fleet rate: 0).
        streamRateAt: (nowMs, family) =>
          config.capacity?.speeds === "models" ? 0 : fleetCapacity.streamRateAt(nowMs, family),
        prefillRateAt: (nowMs, family) => fleetCapacity.prefillRateAt(nowMs, family),
        clock,
      }
    : undefined;
  const fleet: FleetShare | undefined = fleetCapacity
    ? {
        tokensPerSecondAt: (nowMs, family) => fleetCapacity.capacityAt(nowMs, family) * share,
        streamRateAt: (nowMs, family) => sizing?.streamRateAt(nowMs, family) ?? 0,
      }
    : undefined;
  const { accounts } = stores;
  const tracing = createTracing(env, options.spanExporter);
  const adminToken = await resolveAdminToken(env, stores.settings);
  return {
    adminToken,
    tracing,
    tracer: tracing.tracer,
    config,
    logger,
    router: new ModelRouter(config),
    fleet,
    // Upstream keys are read from the variables the configuration names (api_key_env).
    upstreams: createUpstreams(config, rawEnv, sizing, { clock, metrics }),
    stores,
    accounts,
    identities: new IdentityCache(accounts),
    ledger: stores.ledger,
    inFlight: new Set(),
    tokenCounter: new TokenCountPool(),
    clock,
    ...limiting,
    policies,
    enforcer: new Enforcer(
      limiting.limiter,
      policies,
      options.capacity ?? fleetCapacity ?? new ConstantCapacity(),
      clock,
      {
        leaseMs: config.limiter.concurrency_lease_ms,
        onKeepAliveError: (error) =>
          logger.warn(
            { err: error },
            "keeping running requests alive in the limiter store (or refunding lost ones) failed",
          ),
        recorded: (requestIds) => stores.ledger.recorded(requestIds),
        onLostRefunded: (count) => {
          metrics.lostRequestsRefunded.inc(count);
          logger.warn({ count }, "refunded the charges of requests whose gateway died before they ended");
        },
      },
    ),
    admission: createAdmission(config, sizing),
    metrics,
  };
}

export interface RunningGateway {
  gateway: Gateway;
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startGateway(gateway: Gateway): Promise<RunningGateway> {
  await gateway.ready.catch(async (error: unknown) => {
    // A store that cannot be reached at start is a setting to fix, not an outage to ride out.
    await gateway.stores.close();
    await gateway.limiter.close();
    throw error;
  });
  await rebuildFromLedger(gateway);
  const app = buildServer(gateway, {
    ...gateway,
    accounts: gateway.stores.accounts,
    policyStore: gateway.stores.policies,
    limiterKind: gateway.limiterKind,
    limiterStore: gateway.resilient,
  });
  const { host, port } = gateway.config.server;
  await app.listen({ host, port });
  const metricsServer = gateway.config.metrics.listen
    ? await listenForMetrics(gateway, gateway.config.metrics.listen).catch(async (error: unknown) => {
        await app.close();
        throw new ConfigError(
          `metrics.listen ${gateway.config.metrics.listen} cannot be used (${(error as Error).message}): give another host:port.`,
        );
      })
    : undefined;
  const address = app.server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = () => {
    metricsServer?.close();
    closing ??= shutdown(gateway, app);
    return closing;
  };
  return { gateway, app, url: `http://${shownHost}:${boundPort}`, close };
}

/** A store's URL without its credentials, for messages. */
function whereIs(url: string | undefined): string {
  try {
    const parsed = new URL(url ?? "");
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
  } catch {
    return "REDIS_URL";
  }
}

/**
 * Long windows survive a restart: replayed from the ledger before the first request. A memory
 * limiter starts empty every time; Redis is rebuilt when it is empty (first start, or Redis
 * restarted without persistence), by one gateway, also when Redis comes back while we run.
 */
async function rebuildFromLedger(gateway: Gateway): Promise<void> {
  const { limiter, redis, resilient } = gateway;
  if (redis) {
    // An empty Redis is rebuilt from the ledger, which holds everything; otherwise it only lacks
    // what this gateway admitted locally while it was unreachable. One resync at a time, so the
    // outage's usage is either inside the rebuild or replayed, never both.
    let resyncing = Promise.resolve();
    const claim = async () => {
      const outage = resilient?.takeOutageUsage() ?? [];
      if (await redis.claimRebuild()) await replayLedger(gateway);
      else for (const usage of outage) await redis.replay(usage);
    };
    const resync = () => {
      resyncing = resyncing
        .then(claim)
        .catch((error: unknown) =>
          gateway.logger.error({ err: error }, "bringing the limiter store up to date failed"),
        );
    };
    redis.onReady(resync);
    resilient?.onRecovered(resync);
    await claim().catch((error: unknown) =>
      gateway.logger.warn(
        { err: error },
        "limiter windows not rebuilt: Redis unavailable; will retry when it is",
      ),
    );
    return;
  }
  if (limiter.replay) await replayLedger(gateway);
}

async function replayLedger(gateway: Gateway): Promise<void> {
  const started = performance.now();
  const report = await rebuildWindows(
    {
      ledger: gateway.ledger,
      limiter: gateway.limiter,
      enforcer: gateway.enforcer,
      identityOfKey: (keyId) => gateway.accounts.identityOfKey(keyId),
      familyOf: (model) => gateway.router.resolve(model)?.entry.family,
    },
    gateway.clock(),
  );
  if (report.rows === 0) return;
  gateway.logger.info(
    { ...report, since: new Date(report.sinceMs).toISOString(), ms: Math.round(performance.now() - started) },
    "limiter windows rebuilt from the ledger",
  );
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
  gateway.enforcer.close();
  await gateway.tokenCounter.close();
  await gateway.stores.close();
  await gateway.limiter.close();
  await gateway.tracing.shutdown();
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await sleep(10);
}

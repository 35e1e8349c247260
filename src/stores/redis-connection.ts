/**
 * Connections to Redis (or Redis Cluster) for the limiter: commands time out, fail at once
 * while the connection is down (no offline queue) and are pipelined, except the one that must
 * reach Redis before the script that charges.
 */
import { Cluster, Redis } from "ioredis";
import { LimiterUnavailableError } from "../limits/limiter-store.ts";

/**
 * Sent at once, not gathered into the next tick's pipeline: a charge record's index entry must
 * reach Redis before the script that charges (check), or a gateway killed in between leaves
 * a charge no sweep can find.
 */
const UNPIPELINED = ["zadd"];

export interface ConnectOptions {
  /** A call that gets no answer within this time fails with LimiterUnavailableError. */
  timeoutMs?: number;
}

/**
 * Connects to Redis for the limiter: commands time out after `timeoutMs`, and while the
 * connection is down they fail at once (no offline queue) instead of piling up. Use
 * `whenReady` before the first call.
 */
export function connectRedis(url: string, options: ConnectOptions = {}): Redis {
  const timeoutMs = options.timeoutMs ?? 250;
  return new Redis(url, {
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 1_000),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: UNPIPELINED,
    lazyConnect: false,
  });
}

export function connectRedisCluster(
  nodes: Array<{ host: string; port: number }>,
  options: ConnectOptions = {},
): Cluster {
  const timeoutMs = options.timeoutMs ?? 250;
  return new Cluster(nodes, {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: UNPIPELINED,
    redisOptions: {
      commandTimeout: timeoutMs,
      connectTimeout: Math.max(timeoutMs, 1_000),
      maxRetriesPerRequest: 0,
    },
  });
}

/** Resolves once the client can take commands; rejects with LimiterUnavailableError after `timeoutMs`. */
export async function whenReady(client: Redis | Cluster, timeoutMs = 5_000): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new LimiterUnavailableError(`Redis was not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off("ready", onReady);
    };
    client.on("ready", onReady);
  });
}

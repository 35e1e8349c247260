/**
 * Redis for tests: REDIS_URL (default redis://127.0.0.1:6379). With CI=true a missing Redis
 * fails the run; elsewhere the suite is skipped and says why.
 */
import { randomBytes } from "node:crypto";
import { after } from "node:test";
import { Redis } from "ioredis";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Resolves to a skip reason, or undefined when Redis answers PING. Throws under CI. */
export async function redisSkipReason(): Promise<string | undefined> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    await probe.ping();
    return undefined;
  } catch (error) {
    const reason = `Redis is not reachable at ${REDIS_URL} (${(error as Error).message})`;
    if (process.env.CI === "true") throw new Error(`${reason}; CI requires it`);
    console.warn(`skipping: ${reason}`);
    return reason;
  } finally {
    probe.disconnect();
  }
}

/** A key prefix unique to this test run, so runs never see each other's state. */
export const uniquePrefix = (label: string) =>
  `hrtest:${label}:${process.pid}:${randomBytes(4).toString("hex")}:`;

/** Deletes every key under a prefix (standalone Redis). */
export async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== "0");
}

/**
 * What a test file that uses Redis needs: whether to skip (and why), a key prefix of its own,
 * and an admin connection; every key under the prefix is deleted when the file is done.
 */
export async function redisScope(
  label: string,
): Promise<{ skip: string | undefined; prefix: string; admin: Redis | undefined }> {
  const skip = await redisSkipReason();
  const prefix = uniquePrefix(label);
  const admin = skip ? undefined : new Redis(REDIS_URL);
  after(async () => {
    if (!admin) return;
    await deletePrefix(admin, prefix);
    admin.disconnect();
  });
  return { skip, prefix, admin };
}

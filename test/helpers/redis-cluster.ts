/**
 * A throwaway 3-master Redis Cluster built from the local `redis-server` binary on free ports,
 * for running the limiter contract on a real cluster.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { waitFor } from "./wait.ts";

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

async function which(binary: string): Promise<boolean> {
  try {
    await run("sh", ["-c", `command -v ${binary}`]);
    return true;
  } catch {
    return false;
  }
}

/** A skip reason if redis-server is absent (a failure under CI=true), else undefined. */
export async function clusterSkipReason(): Promise<string | undefined> {
  if ((await which("redis-server")) && (await which("redis-cli"))) return undefined;
  const reason = "redis-server / redis-cli not found on PATH: cannot start a Redis Cluster";
  if (process.env.CI === "true") throw new Error(`${reason}; CI requires it`);
  console.warn(`skipping: ${reason}`);
  return reason;
}

export interface LocalCluster {
  nodes: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), "headroom-cluster-"));
  const ports = [await freePort(), await freePort(), await freePort()];
  const processes: ChildProcess[] = ports.map((port) => {
    const nodeDir = join(dir, String(port));
    return spawn(
      "sh",
      [
        "-c",
        `mkdir -p ${nodeDir} && exec redis-server --port ${port} --bind 127.0.0.1 --cluster-enabled yes ` +
          `--cluster-config-file nodes.conf --cluster-node-timeout 5000 --save '' --appendonly no --dir ${nodeDir}`,
      ],
      { stdio: "ignore" },
    );
  });
  const stop = async () => {
    for (const child of processes) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      await waitFor(
        async () => {
          const probe = new Redis({
            port,
            lazyConnect: true,
            retryStrategy: () => null,
            maxRetriesPerRequest: 0,
          });
          probe.on("error", () => {});
          try {
            await probe.connect();
            return (await probe.ping()) === "PONG";
          } catch {
            return false; // not listening yet
          } finally {
            probe.disconnect();
          }
        },
        `redis-server on port ${port} to answer`,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    }
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    await waitFor(
      async () =>
        (await run("redis-cli", ["-p", String(ports[0]), "cluster", "info"])).stdout.includes(
          "cluster_state:ok",
        ),
      "the cluster to report cluster_state:ok",
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: ports.map((port) => ({ host: "127.0.0.1", port })), stop };
}

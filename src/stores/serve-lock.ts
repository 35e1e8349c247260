/**
 * One serving gateway per SQLite data directory while its limits live in the process: a second
 * would keep limits of its own, so every key would get twice what its plan allows, silently.
 * The first gateway writes `serve.lock` (its pid and an id of its own); a second finds the lock
 * held by a live process and refuses to start, naming it and what to do instead. A lock left by
 * a process that died is taken over. CLI commands beside a gateway (keys, usage) take no lock.
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DatabaseError } from "./store.ts";

export const SERVE_LOCK_FILE = "serve.lock";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the data directory's serve lock; returns what releases it. Throws when a live gateway holds it. */
export function claimServeLock(dataDir: string): () => void {
  const path = join(dataDir, SERVE_LOCK_FILE);
  const mine = `${process.pid} ${randomBytes(8).toString("hex")}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, mine);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, "utf8") === mine) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(path, "utf8").split(" ")[0]);
    } catch {
      // Removed between the two calls: try again.
    }
    if (Number.isInteger(holder) && holder > 0 && alive(holder))
      throw new DatabaseError(
        `another headroom gateway (pid ${holder}${holder === process.pid ? ", this process" : ""}) is serving from ${dataDir} with limits kept in its process: a second would keep limits of its own and let every key through twice. Run several gateways on Redis (REDIS_URL) so they share limits, or give this one another --data-dir.`,
      );
    try {
      unlinkSync(path); // a dead process's lock
    } catch {
      // Someone else took it over first: the next attempt finds theirs.
    }
  }
  throw new DatabaseError(`could not take ${path}: another gateway is starting from ${dataDir}`);
}

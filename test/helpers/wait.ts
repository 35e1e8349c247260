/**
 * Waiting in tests: on a condition, never for a fixed time. A slow or busy machine only makes
 * the wait longer; the deadline is there so a condition that never holds fails the test with
 * a message instead of hanging the run.
 */
import { setTimeout as sleep } from "node:timers/promises";

export interface WaitOptions {
  /** Generous on purpose: it bounds a broken run, it is not a speed claim. */
  timeoutMs?: number;
  intervalMs?: number;
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | "">;

/**
 * Resolves after `turns` turns of the event loop (each one polls I/O), whatever the clock says:
 * a delay counted in the gateway's own steps, so it means the same on a fast and a slow machine.
 */
export async function afterTurns(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Polls `condition` until it returns a truthy value, and returns that value. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  what: string,
  { timeoutMs = 20_000, intervalMs = 5 }: WaitOptions = {},
): Promise<Truthy<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Truthy<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Settles with the promise, or rejects if it has not settled within `timeoutMs` (a hang). */
export async function withinDeadline<T>(promise: Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

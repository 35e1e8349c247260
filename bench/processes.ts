/**
 * The servers a benchmark runs beside itself: `dist/` built first (headroom runs compiled, as
 * users run it), each server its own process, killed when the benchmark exits.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A path relative to bench/. */
export const benchPath = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export function buildDist(): void {
  const build = spawnSync(process.execPath, [benchPath("../scripts/build.js")], { stdio: "inherit" });
  if (build.status !== 0) process.exit(1);
}

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/**
 * Asks every server to stop (SIGTERM: each cleans up after itself, the Redis state of a
 * headroom server included) and waits for them, up to ten seconds; the exit hook kills the rest.
 */
export async function stopServers(): Promise<void> {
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.race([
    Promise.all(
      running.map((child) => {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        return exited;
      }),
    ),
    new Promise((resolve) => setTimeout(resolve, 10_000).unref()),
  ]);
}

/**
 * Starts a server process; resolves once its output matches `readyPattern`, with the process
 * and the pattern's captured words (by default those after "ready": a port, a key list).
 */
export function startServer(
  args: string[],
  options: { readyPattern?: RegExp; env?: NodeJS.ProcessEnv } = {},
): Promise<{ child: ChildProcess; words: string[] }> {
  const readyPattern = options.readyPattern ?? /ready (\S+)(?: (\S+))?/;
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: options.env ?? process.env,
  });
  children.push(child);
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line from ${args.join(" ")}:\n${output}`)),
      30_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = readyPattern.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, words: match.slice(1).filter((part): part is string => part !== undefined) });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
  });
}

/**
 * CLI cold start: `headroom --help` and `headroom keys --help` as a user runs them (the compiled
 * bin), against a bare `node -e 0` in the same run. Target: under 0.3 s on this machine.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../bin/headroom.js", import.meta.url));
const build = spawnSync(process.execPath, [fileURLToPath(new URL("../scripts/build.js", import.meta.url))], {
  stdio: "inherit",
});
if (build.status !== 0) process.exit(1);

function medianSeconds(args: string[], runs = 11): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = spawnSync(process.execPath, args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${args.join(" ")} failed: ${result.stderr}`);
    times.push((performance.now() - started) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)] as number;
}

const node = medianSeconds(["-e", "0"]);
for (const args of [["--help"], ["keys", "--help"], ["plan", "--help"]]) {
  const seconds = medianSeconds([bin, ...args]);
  console.log(
    `headroom ${args.join(" ")}: ${seconds.toFixed(3)} s median of 11 (bare node ${node.toFixed(3)} s); target < 0.3 s: ${seconds < 0.3 ? "met" : "MISSED"}`,
  );
}

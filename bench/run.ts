/**
 * `npm run bench`: runs every benchmark under bench/ (files named *.bench.ts) one after the
 * other, each in its own process so one's memory and JIT state do not colour the next.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(dir, { recursive: true, encoding: "utf8" })
  .filter((file) => file.endsWith(".bench.ts"))
  .filter((file) => only.length === 0 || only.some((name) => file.includes(name)))
  .sort();
if (files.length === 0) {
  console.error(only.length > 0 ? `no benchmark matches ${only.join(", ")}` : "no benchmarks found");
  process.exit(1);
}
let failed = 0;
for (const file of files) {
  console.log(`\n## ${file}\n`);
  const result = spawnSync(process.execPath, ["--import", "tsx", "--expose-gc", `${dir}${file}`], {
    stdio: "inherit",
  });
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);

/**
 * The structure the code promises (docs/architecture.md): no import circles, and arrows that
 * point one way — the CLI and the composition root may import the edge; nothing below the edge
 * does, and the domain never imports the stores' engines.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..");
const files = (readdirSync(join(root, "src"), { recursive: true, encoding: "utf8" }) as string[])
  .filter((file) => file.endsWith(".ts"))
  .map((file) => normalize(join("src", file)));
const IMPORT = /(?:from|import\()\s*"(\.[^"]+\.ts)"/g;
const graph = new Map(
  files.map((file) => {
    const text = readFileSync(join(root, file), "utf8");
    const imports = [...text.matchAll(IMPORT)].map((match) =>
      normalize(relative(root, join(root, dirname(file), match[1] as string))),
    );
    return [file, imports];
  }),
);

test("the module graph has no import circles (type-only imports included)", () => {
  assert.ok(graph.size > 50, `read ${graph.size} modules`);
  const state = new Map<string, "open" | "done">();
  const circles: string[] = [];
  const visit = (file: string, path: string[]) => {
    state.set(file, "open");
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") circles.push([...path.slice(path.indexOf(next)), next].join(" -> "));
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file, [file]);
  assert.deepEqual(circles, []);
});

test("arrows point from the edge down: only the CLI and the composition root import the edge", () => {
  const upward: string[] = [];
  for (const [file, imports] of graph) {
    const allowed =
      file.startsWith(join("src", "edge")) ||
      file.startsWith(join("src", "cli")) ||
      file === join("src", "gateway.ts");
    for (const target of imports)
      if (target.startsWith(join("src", "edge")) && !allowed) upward.push(`${file} -> ${target}`);
  }
  assert.deepEqual(upward, []);
});

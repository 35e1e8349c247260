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

/** Every circle a depth-first walk of the graph meets, as "a -> b -> a". */
function circlesIn(edges: ReadonlyMap<string, Iterable<string>>): string[] {
  const state = new Map<string, "open" | "done">();
  const circles: string[] = [];
  const visit = (node: string, path: string[]) => {
    state.set(node, "open");
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === "open") circles.push([...path.slice(path.indexOf(next)), next].join(" -> "));
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(node, "done");
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node, [node]);
  return circles;
}

test("the module graph has no import circles (type-only imports included)", () => {
  assert.ok(graph.size > 50, `read ${graph.size} modules`);
  assert.deepEqual(circlesIn(graph), []);
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

/** A module's top folder under src/ ("(root)" for src/gateway.ts). */
const folderOf = (file: string) => {
  const parts = relative("src", file).split(/[\\/]/);
  return parts.length > 1 ? (parts[0] as string) : "(root)";
};

test("no folder loops: the folders' import graph has no circle", () => {
  const folders = new Map<string, Set<string>>();
  for (const [file, imports] of graph)
    for (const target of imports) {
      const [from, to] = [folderOf(file), folderOf(target)];
      if (from === to) continue;
      if (!folders.has(from)) folders.set(from, new Set());
      folders.get(from)?.add(to);
    }
  assert.deepEqual(circlesIn(folders), []);
});

test("the domain owns its contracts: nothing but the stores, the edge, the CLI and the root imports a store module", () => {
  const allowed = new Set(["stores", "edge", "cli", "(root)"]);
  const downward: string[] = [];
  for (const [file, imports] of graph)
    for (const target of imports)
      if (folderOf(target) === "stores" && !allowed.has(folderOf(file)))
        downward.push(`${file} -> ${target}`);
  assert.deepEqual(downward, []);
});

test("shared leaves import nothing of the product: src/common/ depends on no other folder", () => {
  const outward: string[] = [];
  for (const [file, imports] of graph)
    if (folderOf(file) === "common")
      for (const target of imports) if (folderOf(target) !== "common") outward.push(`${file} -> ${target}`);
  assert.deepEqual(outward, []);
});

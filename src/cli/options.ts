/** Options every command that touches stored state accepts, so a second terminal can manage a running server. */
import type { Command } from "commander";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { knownPlanNames } from "../plans/registry.ts";
import { openStores } from "../stores/open-stores.ts";
import type { Stores } from "../stores/store.ts";

export interface StateOptions {
  config?: string;
  dataDir?: string;
}

export function withStateOptions(command: Command): Command {
  return command
    .option("--config <file>", "configuration file (YAML)")
    .option(
      "--data-dir <dir>",
      "where headroom keeps its SQLite database (default .headroom/; DATABASE_URL=postgres://… selects PostgreSQL)",
    );
}

export function configFor(options: StateOptions): Config {
  return loadConfig({ file: options.config, overrides: { dataDir: options.dataDir } });
}

export class UsageError extends Error {
  override name = "UsageError";
}

/** Prints rows as an aligned text table. */
export function formatTable(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? "").length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) =>
        typeof rows[0]?.[column] === "number"
          ? cell.padStart(widths[column] ?? 0)
          : cell.padEnd(widths[column] ?? 0),
      )
      .join("  ")
      .trimEnd();
  return [line(cells[0] ?? []), ...cells.slice(1).map(line)].join("\n");
}

/** Refuses a plan neither built in nor offered by a stored policy, listing those that are. */
export async function requireKnownPlan(stores: Stores, plan: string | boolean | undefined): Promise<void> {
  if (typeof plan !== "string") return;
  const known = knownPlanNames(await stores.policies.list());
  if (!known.includes(plan)) throw new UsageError(`unknown plan "${plan}"; known plans: ${known.join(", ")}`);
}

/**
 * Opens the stores a server with the same options uses (SQLite under --data-dir, or the
 * PostgreSQL of DATABASE_URL) for one piece of work, and closes them after.
 */
export async function withStores<T>(
  options: StateOptions,
  work: (stores: Stores) => Promise<T> | T,
): Promise<T> {
  const stores = await openStores({ dataDir: configFor(options).server.data_dir, env: process.env });
  try {
    return await work(stores);
  } finally {
    await stores.close();
  }
}

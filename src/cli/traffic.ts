/**
 * `headroom traffic --base URL --admin-token TOKEN --users N --plan-mix pro=0.7,max-5x=0.3
 * --duration 2m`: fills a running gateway's ledger with a population of known parameters, so
 * a fresh install can export its demand and plan from it within minutes. Each user gets an
 * account and key (through the admin API); the population's simulated week is played back
 * compressed into the duration.
 */
import type { Command } from "commander";
import { readEnv } from "../config/env.ts";
import { type PopulationSpec, schedule } from "../traffic/population.ts";
import { UsageError } from "./options.ts";

interface TrafficOptions {
  base: string;
  adminToken?: string;
  users: string;
  planMix: string;
  duration: string;
  sigma: string;
  outputTokens: string;
  days: string;
  concurrency: string;
  seed: string;
  model: string[];
}

/** "2m", "90s", "1h" → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new UsageError(`--duration must look like 90s, 2m or 1h, got "${text}"`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h"];
  return Number(match[1]) * unit;
}

/** "pro=0.7,max-5x=0.3" → users per plan for `users` in all. */
export function planCounts(mix: string, users: number): Record<string, number> {
  const parts = mix.split(",").map((part) => part.trim().split("="));
  if (
    parts.some(
      (part) => part.length !== 2 || !part[0] || !Number.isFinite(Number(part[1])) || Number(part[1]) < 0,
    )
  )
    throw new UsageError(`--plan-mix must look like pro=0.7,max-5x=0.3, got "${mix}"`);
  const total = parts.reduce((sum, [, share]) => sum + Number(share), 0);
  if (total <= 0) throw new UsageError("--plan-mix: the shares add up to 0");
  const counts: Record<string, number> = {};
  let given = 0;
  parts.forEach(([plan, share], i) => {
    const n = i === parts.length - 1 ? users - given : Math.round((users * Number(share)) / total);
    counts[plan as string] = n;
    given += n;
  });
  return counts;
}

const positive = (value: string, flag: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number, got "${value}"`);
  return n;
};

export function registerTrafficCommand(program: Command): void {
  program
    .command("traffic")
    .description("drive a running gateway with a population of known parameters (fills its ledger)")
    .requiredOption("--base <url>", "the gateway's URL, e.g. http://127.0.0.1:8787")
    .option("--admin-token <token>", "creates each user's account and key (default $HEADROOM_ADMIN_TOKEN)")
    .option("--users <n>", "users in all", "50")
    .option("--plan-mix <mix>", "users per plan, as shares", "pro=0.7,max-5x=0.2,max-20x=0.1")
    .option("--duration <time>", "how long to play the population's days back in", "2m")
    .option("--days <n>", "days of the population's life to play back", "7")
    .option("--sigma <σ>", "log-normal spread of usage between users", "0.8")
    .option("--output-tokens <n>", "reply length the median user asks for", "60")
    .option("--concurrency <n>", "requests in flight at once (a cap: the schedule sets the pace)", "64")
    .option("--model <id...>", "models the users ask for (shares equal)", [
      "claude-sonnet-4-6",
      "claude-opus-4-7",
    ])
    .option("--seed <n>", "the same seed, the same traffic", "1")
    .action(async (options: TrafficOptions) => {
      const { drive } = await import("../traffic/driver.ts");
      const token = options.adminToken ?? readEnv().HEADROOM_ADMIN_TOKEN;
      if (!token)
        throw new UsageError("--admin-token (or HEADROOM_ADMIN_TOKEN) is needed to create the users' keys");
      const base = options.base.replace(/\/$/, "");
      const users = Math.round(positive(options.users, "--users"));
      const durationMs = parseDuration(options.duration);
      const days = Math.round(positive(options.days, "--days"));
      const startMs = Date.UTC(2026, 0, 5); // a Monday: the schedule's own calendar
      const spec: PopulationSpec = {
        plans: planCounts(options.planMix, users),
        sigma: positive(options.sigma, "--sigma"),
        outputTokens: Math.round(positive(options.outputTokens, "--output-tokens")),
        requestsPerHour: 1,
        mix: { default: Object.fromEntries(options.model.map((model) => [model, 1])) },
        // Office hours, busiest late morning (UTC).
        hourly: Array.from({ length: 24 }, (_, hour) =>
          hour >= 8 && hour < 18 ? 0.5 - Math.abs(hour - 11.5) / 16 : 0.03,
        ),
        days,
        startMs,
        seed: Number(options.seed),
      };
      const requests = schedule(spec);
      process.stderr.write(
        `traffic: ${users} users (${Object.entries(spec.plans)
          .map(([plan, n]) => `${plan} ${n}`)
          .join(", ")}), ${requests.length} requests over ${days} simulated days in ${options.duration}\n`,
      );
      const keys = new Map<string, string>();
      for (const plan of Object.keys(spec.plans)) {
        for (let i = 0; i < (spec.plans[plan] ?? 0); i++) {
          const account = `traffic-${options.seed}-${plan}-${i}`;
          const response = await fetch(`${base}/admin/v1/keys`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ account, plan }),
          });
          const body = (await response.json()) as { key?: string; error?: { message: string } };
          if (!response.ok || !body.key)
            throw new UsageError(
              `creating a key for ${account} on ${plan}: ${response.status} ${body.error?.message ?? ""}`,
            );
          keys.set(`${plan}-user-${i}`, body.key);
        }
      }
      const started = Date.now();
      const scale = durationMs / (days * 86_400_000);
      let lastReport = 0;
      const statuses = await drive(requests, {
        baseUrl: base,
        keyOf: (user) => keys.get(user) as string,
        concurrency: Math.round(positive(options.concurrency, "--concurrency")),
        beforeRequest: async (request) => {
          const due = started + (request.atMs - startMs) * scale;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        },
        onProgress: (sent, total, counts) => {
          const now = Date.now();
          if (now - lastReport < 2_000 && sent < total) return;
          lastReport = now;
          const summary = Object.entries(counts)
            .map(([status, n]) => `${status}: ${n}`)
            .join(", ");
          process.stderr.write(
            `traffic: ${sent}/${total} sent (${Math.round((100 * sent) / total)}%; ${summary})\n`,
          );
        },
      });
      process.stdout.write(
        `Sent ${requests.length} requests: ${Object.entries(statuses)
          .map(([status, n]) => `${n} × ${status}`)
          .join(", ")}. Next: headroom demand export --days 1 --out demand.yaml\n`,
      );
    });
}

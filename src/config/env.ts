/**
 * Every environment variable headroom reads, in one schema with its default beside it. Each
 * entry point (the gateway, the configuration loader, the stores, the CLI) reads the
 * environment through `readEnv`, so a value that is not a number, a URL or an instant stops
 * the start with one line naming the variable (`Number("250ms")` used to become NaN and a
 * timeout of nothing), and no module looks a variable up by its own rules. The table in
 * docs/deploy.md ("Environment") lists the same variables; a test keeps them in step.
 *
 * Not here: the variables an upstream's `api_key_env` names in the configuration file (their
 * names are the operator's), and libpq's PGUSER/USER, which only supply a user name a
 * PostgreSQL URL left out, as libpq would.
 */
import { z } from "zod";
import { ConfigError } from "./yaml-file.ts";

const unset = (value: string | undefined) => value === undefined || value.trim() === "";

const number = (name: string, min: number, max: number, fallback: number, example: string) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (unset(value)) return fallback;
      const n = Number(value);
      if (!Number.isFinite(n) || n < min || n >= max) {
        context.addIssue({ code: "custom", message: `${name} must be ${example}; got "${value}"` });
        return z.NEVER;
      }
      return n;
    });

/** A string variable, undefined when unset or blank (an empty export is no value). */
const text = () =>
  z
    .string()
    .optional()
    .transform((value) => (unset(value) ? undefined : (value as string).trim()));

const checked = (name: string, valid: (value: string) => boolean, example: string) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (unset(value)) return undefined;
      const trimmed = (value as string).trim();
      if (!valid(trimmed)) {
        context.addIssue({ code: "custom", message: `${name} must be ${example}; got "${value}"` });
        return z.NEVER;
      }
      return trimmed;
    });

const isUrl = (value: string) => URL.canParse(value);
const HOST_PORT = /^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

export const envSchema = z.object({
  DATABASE_URL: text().describe(
    "PostgreSQL for accounts, keys, policies and the ledger; absent: SQLite in the data directory.",
  ),
  HEADROOM_DATABASE_SCHEMA: z
    .string()
    .optional()
    .transform((value) => (unset(value) ? "public" : (value as string).trim()))
    .describe("The PostgreSQL schema headroom's tables live in."),
  HEADROOM_LEDGER_BUFFER: number(
    "HEADROOM_LEDGER_BUFFER",
    1,
    1e9,
    100_000,
    "a whole number of events, e.g. 100000",
  )
    .refine((value) => Number.isInteger(value), {
      message: "HEADROOM_LEDGER_BUFFER must be a whole number of events, e.g. 100000",
    })
    .describe("Usage events kept in memory per gateway while the ledger's store fails; then 503s."),
  REDIS_URL: text().describe(
    "Shared limits in Redis (several comma-separated URLs: a cluster); absent, limits live in this process.",
  ),
  HEADROOM_LIMITER_TIMEOUT_MS: number(
    "HEADROOM_LIMITER_TIMEOUT_MS",
    1,
    60_001,
    250,
    "milliseconds from 1 to 60000, e.g. 250",
  ).describe("How long a limiter call waits on Redis before the breaker counts it as a failure."),
  HEADROOM_REDIS_PREFIX: z
    .string()
    .optional()
    .transform((value) => (unset(value) ? "hr:" : (value as string)))
    .describe("Prefix of every limiter key (one Redis shared by several deployments)."),
  HEADROOM_LIMITER_LEASE_FRACTION: number(
    "HEADROOM_LIMITER_LEASE_FRACTION",
    0,
    0.1,
    0,
    "a share below 0.1, e.g. 0.005",
  ).describe("Share of a limit a gateway may lease and decide locally (stores/leased-limiter.ts); 0 = off."),
  HEADROOM_LIMITER_ON_FAILURE: checked(
    "HEADROOM_LIMITER_ON_FAILURE",
    (value) => value === "open" || value === "closed",
    '"open" or "closed"',
  ).describe(
    "While the limiter store is down: decide locally (open) or refuse with 503 (closed); overrides limiter.on_store_failure.",
  ) as z.ZodType<"open" | "closed" | undefined>,
  HEADROOM_METRICS_LISTEN: checked(
    "HEADROOM_METRICS_LISTEN",
    (value) => HOST_PORT.test(value),
    "host:port, e.g. 127.0.0.1:9464",
  ).describe("Serve /metrics, open, on this host:port as well (overrides metrics.listen)."),
  HEADROOM_UPSTREAM_URL: checked(
    "HEADROOM_UPSTREAM_URL",
    isUrl,
    "a URL, e.g. https://api.anthropic.com",
  ).describe("Every model to an Anthropic-compatible API at this URL (as `serve --upstream`)."),
  HEADROOM_UPSTREAM_KEY: text().describe("The key for HEADROOM_UPSTREAM_URL."),
  ANTHROPIC_API_KEY: text().describe(
    "The key for HEADROOM_UPSTREAM_URL when HEADROOM_UPSTREAM_KEY is unset (and the default upstream key).",
  ),
  HEADROOM_ADMIN_TOKEN: text().describe(
    "The operator's admin token; absent: one is generated on first start and its hash stored.",
  ),
  HEADROOM_KEY_SECRET: checked(
    "HEADROOM_KEY_SECRET",
    (value) => value.length >= 32,
    "at least 32 characters (e.g. `openssl rand -hex 32`)",
  ).describe("The secret API keys are stored as HMACs under; absent: `key-secret` in the data directory."),
  HEADROOM_CLOCK_START: checked(
    "HEADROOM_CLOCK_START",
    (value) => !Number.isNaN(Date.parse(value)),
    "an ISO date-time, e.g. 2026-05-11T00:00:00Z",
  ).describe(
    "Starts the gateway's clock at this instant, running at normal speed (rehearsing a dated policy).",
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: checked("OTEL_EXPORTER_OTLP_ENDPOINT", isUrl, "a URL").describe(
    "OTLP/HTTP endpoint for traces (\u2026/v1/traces is appended); absent: no tracing at all.",
  ),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: checked("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", isUrl, "a URL").describe(
    "OTLP/HTTP endpoint for traces, used as given (overrides OTEL_EXPORTER_OTLP_ENDPOINT).",
  ),
  OTEL_SERVICE_NAME: z
    .string()
    .optional()
    .transform((value) => (unset(value) ? "headroom" : (value as string).trim()))
    .describe("The service.name traces carry."),
});

export type HeadroomEnv = Readonly<z.infer<typeof envSchema>>;

/** The environment, parsed and frozen; a bad value stops with a line per variable at fault. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): HeadroomEnv {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => issue.message).join("\n"));
  return Object.freeze(parsed.data);
}

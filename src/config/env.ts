/**
 * The environment variables the gateway's shared limiter reads, parsed in one place with their
 * defaults beside them: a value that is not a number, or out of range, stops the start with a
 * line naming the variable (`Number("250ms")` used to become NaN and a timeout of nothing).
 */
import { z } from "zod";
import { ConfigError } from "./yaml-file.ts";

const number = (name: string, min: number, max: number, fallback: number, example: string) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === "") return fallback;
      const n = Number(value);
      if (!Number.isFinite(n) || n < min || n >= max) {
        context.addIssue({ code: "custom", message: `${name} must be ${example}; got "${value}"` });
        return z.NEVER;
      }
      return n;
    });

export const limiterEnvSchema = z.object({
  /** Shared limits in Redis; absent, limits live in this process. */
  REDIS_URL: z.string().min(1).optional(),
  /** How long a limiter call waits on Redis before the breaker counts it as a failure. */
  HEADROOM_LIMITER_TIMEOUT_MS: number(
    "HEADROOM_LIMITER_TIMEOUT_MS",
    1,
    60_001,
    250,
    "milliseconds from 1 to 60000, e.g. 250",
  ),
  /** Prefix of every limiter key (one Redis shared by several deployments). */
  HEADROOM_REDIS_PREFIX: z.string().min(1).default("hr:"),
  /** Share of a limit a gateway may lease and decide locally (stores/leased-limiter.ts); 0 = off. */
  HEADROOM_LIMITER_LEASE_FRACTION: number(
    "HEADROOM_LIMITER_LEASE_FRACTION",
    0,
    0.1,
    0,
    "a share below 0.1, e.g. 0.005",
  ),
});

export type LimiterEnv = z.infer<typeof limiterEnvSchema>;

export function limiterEnv(env: NodeJS.ProcessEnv): LimiterEnv {
  const parsed = limiterEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => issue.message).join("\n"));
  return parsed.data;
}

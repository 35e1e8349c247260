/** The admin API's usage from the ledger, and why a window stands where it does (one file per resource; admin-api.ts composes them). */
import { z } from "zod";
import { explainWindow } from "../../enforcement/explain-window.ts";
import type { UsageEvent } from "../../ledger/usage-event.ts";
import { GROUPINGS, type Grouping, pricer, summarize } from "../../ledger/usage-report.ts";
import { type AdminServices, explanationSchema, found, instant, list, name } from "./admin-shared.ts";
import { type AdminRoute, route } from "./routes.ts";

export function usageRoutes(services: AdminServices): AdminRoute[] {
  const { accounts } = services;
  return [
    route({
      method: "GET",
      path: "/usage",
      summary: "Usage and cost from the ledger, grouped",
      tag: "usage",
      query: z.object({
        by: z
          .string()
          .default("account,model")
          .refine(
            (value) => value.split(",").every((part) => (GROUPINGS as readonly string[]).includes(part)),
            `a comma-separated list of ${GROUPINGS.join(", ")}`,
          ),
        account: name.optional(),
        since: instant.optional(),
        until: instant.optional(),
      }),
      response: list(z.record(z.string(), z.union([z.string(), z.number()]))),
      handler: async ({ query }) => {
        const sinceMs = query.since ? Date.parse(query.since) : 0;
        const untilMs = query.until ? Date.parse(query.until) : Number.POSITIVE_INFINITY;
        const price = pricer(
          (ms) => services.policies.inForce(ms),
          (model) => services.router.resolve(model)?.entry.family,
        );
        const ledger = services.ledger;
        const events = async function* (): AsyncIterable<UsageEvent> {
          for await (const event of ledger.replay(sinceMs, { account: query.account })) {
            if (event.at_ms >= untilMs) return;
            yield event;
          }
        };
        const rows = await summarize(events(), query.by.split(",") as Grouping[], price);
        return { data: rows as unknown as Array<Record<string, string | number>> };
      },
    }),
    route({
      method: "GET",
      path: "/usage/explain",
      summary: "The ledger entries behind one of a key's account's windows: charges, refunds and reasons",
      tag: "usage",
      query: z.object({ key: name, window: z.string().min(1).default("5h") }),
      response: explanationSchema,
      handler: async ({ query }) => {
        const identity = found(await accounts.identityOfKey(query.key), `key ${query.key}`);
        return explainWindow(
          {
            ledger: services.ledger,
            enforcer: services.enforcer,
            familyOf: (model) => services.router.resolve(model)?.entry.family,
          },
          identity,
          query.window,
          services.clock(),
        );
      },
    }),
  ];
}

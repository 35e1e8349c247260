/** The admin API's capacity plans, run from the scenarios folder one at a time (one file per resource; admin-api.ts composes them). */
import { z } from "zod";
import { policySchema } from "../../plans/schema.ts";
import { type AdminServices, list } from "./admin-shared.ts";
import { writeLedgerScenario } from "./ledger-scenario.ts";
import { PlanRunner } from "./plan-runner.ts";
import { type AdminRoute, route } from "./routes.ts";

export function planRoutes(services: AdminServices): AdminRoute[] {
  const { accounts } = services;
  // One per gateway: at most one plan runs at a time, from the scenarios folder only.
  const planner = new PlanRunner(services.config.planner.scenarios_dir, services.clock);
  return [
    route({
      method: "POST",
      path: "/plans",
      summary:
        "Run the capacity planner on a scenario file, or on the demand this gateway's ledger measured (in a child process; tens of seconds)",
      tag: "planner",
      body: z
        .object({
          scenario: z
            .string()
            .min(1)
            .max(1_000)
            .optional()
            .describe("a scenario file's name inside planner.scenarios_dir"),
          from_ledger: z
            .object({ days: z.number().int().min(1).max(90).default(7) })
            .strict()
            .optional()
            .describe("plan from the demand this gateway's ledger measured over the last days"),
        })
        .strict()
        .refine((body) => (body.scenario === undefined) !== (body.from_ledger === undefined), {
          message: "give either scenario (a file of the scenarios folder) or from_ledger ({ days })",
        }),
      response: z.object({
        plan: z.record(z.string(), z.unknown()),
        charts: z.object({ week_before: z.string(), week_after: z.string(), tornado: z.string() }),
        /** The plan's policy and figures: POST them to /policies/drafts to propose it. */
        proposal: z.object({ policy: policySchema, notes: z.string(), source: z.string() }),
        seconds: z.number(),
      }),
      handler: async ({ body }) => {
        if (body.scenario !== undefined) return planner.run(body.scenario);
        const days = body.from_ledger?.days ?? 7;
        return planner.runWritten(`this gateway's ledger, last ${days} day(s)`, async (dir) => {
          await services.ledger.flush();
          const keys = new Map((await accounts.listKeys()).map((key) => [key.id, key.plan]));
          const nowMs = services.clock();
          const written = await writeLedgerScenario(
            {
              replay: (sinceMs) => services.ledger.replay(sinceMs),
              planOfKey: (id) => keys.get(id),
              familyOf: (model) => services.router.resolve(model)?.entry.family,
              policy: services.policies.inForce(nowMs),
              fleet: services.config.capacity?.fleet,
              nowMs,
            },
            days,
            dir,
          );
          return written.file;
        });
      },
    }),
    route({
      method: "GET",
      path: "/plans/scenarios",
      summary: "The scenario files the planner may run (its scenarios folder, planner.scenarios_dir)",
      tag: "planner",
      response: list(z.object({ name: z.string() })),
      handler: async () => ({ data: planner.scenarios().map((name) => ({ name })) }),
    }),
  ];
}

/** The admin API's organisations and teams: the levels whose limits join a key's plan (one file per resource; admin-api.ts composes them). */
import { z } from "zod";
import { type AdminServices, found, level, limits, list, name, refused } from "./admin-shared.ts";
import { type AdminRoute, route } from "./routes.ts";

export function levelRoutes(services: AdminServices): AdminRoute[] {
  const { accounts } = services;
  return [
    route({
      method: "GET",
      path: "/organisations",
      summary: "List organisations",
      tag: "organisations",
      response: list(level),
      handler: async () => ({ data: await accounts.listOrganisations() }),
    }),
    route({
      method: "POST",
      path: "/organisations",
      summary: "Create an organisation",
      tag: "organisations",
      body: z.object({ name, limits: limits.default({}) }),
      response: z.object({ name: z.string(), limits }),
      status: 201,
      handler: async ({ body }) => {
        await accounts.createOrganisation(body.name, body.limits).catch(refused);
        return body;
      },
    }),
    route({
      method: "PATCH",
      path: "/organisations/{name}",
      summary: "Replace an organisation's limits",
      tag: "organisations",
      params: z.object({ name }),
      body: z.object({ limits }),
      response: z.object({ name: z.string(), limits }),
      handler: async ({ params, body }) => {
        found(
          (await accounts.setLimits("organisation", params.name, body.limits)) || undefined,
          `organisation ${params.name}`,
        );
        return { name: params.name, limits: body.limits };
      },
    }),
    route({
      method: "GET",
      path: "/teams",
      summary: "List teams",
      tag: "teams",
      query: z.object({ organisation: name.optional() }),
      response: list(level),
      handler: async ({ query }) => ({ data: await accounts.listTeams(query.organisation) }),
    }),
    route({
      method: "POST",
      path: "/teams",
      summary: "Create a team in an organisation",
      tag: "teams",
      body: z.object({ name, organisation: name, limits: limits.default({}) }),
      response: z.object({ name: z.string(), organisation: z.string(), limits }),
      status: 201,
      handler: async ({ body }) => {
        await accounts.createTeam(body.name, body.organisation, body.limits).catch(refused);
        return body;
      },
    }),
    route({
      method: "PATCH",
      path: "/teams/{name}",
      summary: "Replace a team's limits",
      tag: "teams",
      params: z.object({ name }),
      body: z.object({ limits }),
      response: z.object({ name: z.string(), limits }),
      handler: async ({ params, body }) => {
        found(
          (await accounts.setLimits("team", params.name, body.limits)) || undefined,
          `team ${params.name}`,
        );
        return { name: params.name, limits: body.limits };
      },
    }),
  ];
}

/**
 * The admin API under /admin/v1 (DESIGN.md): organisations, teams, accounts and keys; dated
 * policies; usage from the ledger; live state. Only the admin token opens it (401 without a
 * token or with a wrong one, 403 for a customer key); inputs are validated by the zod schemas
 * that also make the OpenAPI 3.1 document at /admin/v1/openapi.json.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { HeadroomError } from "../../common/errors.ts";
import { presentedKey } from "../auth.ts";
import { accountRoutes } from "./account-routes.ts";
import { ADMIN_PREFIX, type AdminServices } from "./admin-shared.ts";
import { fleetRoutes } from "./fleet-routes.ts";
import { levelRoutes } from "./level-routes.ts";
import { liveRoutes } from "./live-routes.ts";
import { planRoutes } from "./plan-routes.ts";
import { policyReviewRoutes } from "./policy-review-routes.ts";
import { policyRoutes } from "./policy-routes.ts";
import { type AdminRoute, openApiDocument, registerAdminRoutes } from "./routes.ts";
import { usageRoutes } from "./usage-routes.ts";

export type { AdminServices } from "./admin-shared.ts";
export { ADMIN_PREFIX } from "./admin-shared.ts";

/** Every admin route, one file per resource. */
function routes(services: AdminServices): AdminRoute[] {
  return [
    ...policyReviewRoutes(services),
    ...levelRoutes(services),
    ...accountRoutes(services),
    ...policyRoutes(services),
    ...usageRoutes(services),
    ...fleetRoutes(services),
    ...planRoutes(services),
    ...liveRoutes(services),
  ];
}

/** Only the admin token passes; a customer key is recognised and told it is the wrong kind. */
function authorizer(services: AdminServices) {
  return async (request: FastifyRequest): Promise<void> => {
    const authorization = request.headers.authorization;
    const presented =
      typeof authorization === "string" ? /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim() : undefined;
    if (!presented) {
      throw new HeadroomError(
        "admin_token_required",
        "The admin API needs the admin token as Authorization: Bearer.",
      );
    }
    if (services.adminToken.accepts(presented)) return;
    const customer = presentedKey(request.headers);
    const identity = customer ? await services.identities.authenticate(customer) : undefined;
    if (identity)
      throw new HeadroomError("customer_key_on_admin", "A customer API key cannot use the admin API.");
    throw new HeadroomError("admin_token_required", "Invalid admin token.");
  };
}

export function registerAdminApi(app: FastifyInstance, services: AdminServices, version: string): void {
  const all = routes(services);
  registerAdminRoutes(app, ADMIN_PREFIX, all, authorizer(services));
  const document = openApiDocument(ADMIN_PREFIX, all, version);
  // The document itself is public: it describes the API, it opens nothing.
  app.get(`${ADMIN_PREFIX}/openapi.json`, async () => document);
}

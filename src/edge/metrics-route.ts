/**
 * /metrics for Prometheus. On the main port it is behind the admin token by default
 * (`metrics.access`), since it names plans, models and upstreams; `metrics.listen` also serves
 * it, open, on an address of its own that scrapers reach and clients do not.
 */
import { createServer, type Server } from "node:http";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { HeadroomError } from "../common/errors.ts";
import type { AdminToken } from "./admin/admin-token.ts";
import { familyLoad } from "./family-load.ts";
import type { EdgeServices } from "./services.ts";

type MetricsServices = Pick<
  EdgeServices,
  "admission" | "metrics" | "ledger" | "config" | "clock" | "upstreams" | "inFlight" | "fleet"
>;

/** Demand in flight against capacity, per model family, as of this scrape. */
function setFamilyGauges(gateway: MetricsServices): void {
  const { metrics } = gateway;
  metrics.familyDemand.reset();
  metrics.familyCapacity.reset();
  for (const load of familyLoad(gateway)) {
    metrics.familyDemand.set({ family: load.family }, load.demandTokensPerSecond);
    if (load.capacityTokensPerSecond !== undefined)
      metrics.familyCapacity.set({ family: load.family }, load.capacityTokensPerSecond);
  }
}

/** Every gauge brought up to date, then the registry in Prometheus's text format. */
export function scrape(gateway: MetricsServices): Promise<string> {
  for (const [name, controller] of gateway.admission) {
    const stats = controller.stats(0);
    gateway.metrics.inFlight.set({ upstream: name }, stats.inFlight);
    gateway.metrics.demand.set({ upstream: name }, stats.demandTokensPerSecond);
  }
  gateway.metrics.ledgerBuffered.set(gateway.ledger.pending);
  setFamilyGauges(gateway);
  return gateway.metrics.registry.metrics();
}

function requireAdminToken(adminToken: AdminToken, request: FastifyRequest): void {
  const authorization = request.headers.authorization;
  const presented =
    typeof authorization === "string" ? /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim() : undefined;
  if (!presented || !adminToken.accepts(presented)) {
    throw new HeadroomError(
      "admin_token_required",
      "/metrics needs the admin token as Authorization: Bearer (or set metrics.access: open, or metrics.listen).",
    );
  }
}

export function registerMetricsRoute(
  app: FastifyInstance,
  gateway: MetricsServices,
  adminToken: AdminToken,
): void {
  const open = gateway.config.metrics.access === "open";
  app.get("/metrics", async (request, reply) => {
    if (!open) requireAdminToken(adminToken, request);
    reply.header("content-type", gateway.metrics.registry.contentType);
    return scrape(gateway);
  });
}

/** The separate, open /metrics listener of `metrics.listen`; resolves once it listens. */
export async function listenForMetrics(gateway: MetricsServices, hostPort: string): Promise<Server> {
  const at = hostPort.lastIndexOf(":");
  const host = hostPort.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(hostPort.slice(at + 1));
  const server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("Only /metrics is served here.\n");
      return;
    }
    scrape(gateway).then(
      (text) => response.writeHead(200, { "content-type": gateway.metrics.registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

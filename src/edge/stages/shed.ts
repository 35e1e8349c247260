/**
 * Stage 2, shed: priority load shedding against the upstream's capacity (admission/): when it
 * is short, lower-priority plans get a 529 before anything is charged to them.
 */
import { overloaded } from "../../common/errors.ts";
import type { Routed } from "./route.ts";
import type { RequestState } from "./state.ts";

export function shed(exchange: RequestState, { model, limits }: Routed): void {
  const { services } = exchange;
  const controller = services.admission.get(model.upstream);
  if (!controller) return;
  const priority = limits.plan.priority;
  const release = controller.tryAdmit(priority, model.entry.simulation?.decode_tokens_per_s ?? 0);
  if (!release) {
    services.metrics.shed.inc({ upstream: model.upstream, priority });
    throw overloaded(
      `${model.requested} is short of capacity right now; lower-priority traffic is being shed. Retry shortly.`,
      1,
    );
  }
  exchange.releaseCapacity = release;
}

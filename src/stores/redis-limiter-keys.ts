/**
 * How the limiter's state is named in Redis and how a call is encoded for its script
 * (lua/limiter.lua). Every key of one decision shares one hash tag, `{slot}` (the request's
 * organisation, else its key), so the script touches a single cluster slot:
 *
 *   <prefix>{slot}                  the key's own state (or <prefix>{slot}:k:<key> inside a slot)
 *   <prefix>{slot}:s:<scope>        a shared scope's state (a team, the organisation)
 *   <state>:lease:<dimension>       a concurrency dimension's lease set
 *   <own>:charge:<lease id>         an admitted request's charge record (charge-index.ts)
 *
 * The script's argument list: KEYS (states, lease sets, the charge record and the charge
 * index when tracked) counted first, then op, now, lease id, the dimensions' JSON, the costs,
 * and the tracking fields.
 */
import type { DimensionSpec } from "../limits/dimension.ts";
import { CHARGE_RECORD_TTL_MS } from "./charge-index.ts";

export type ScriptOp = "check" | "peek" | "reconcile" | "replay" | "keep";

/** Who a call is for: the limiter key and the slot it shares with its team and organisation. */
export interface Owner {
  key: string;
  slot?: string | undefined;
}

/** A tracked call's charge record, the request it belongs to, and when it is lost. */
export interface Tracking {
  record: string;
  requestId: string | undefined;
  lostAtMs: number;
}

/** How a dimension list is laid out for the script: its JSON, its scopes, its lease sets. */
interface Layout {
  specs: string;
  /** Scopes other than the key's own, in the order the script numbers them (2, 3, …). */
  scopes: string[];
  /** One lease set per concurrency dimension: the scope it belongs to (1 = the key's own). */
  leases: Array<{ scope: number; suffix: string }>;
}

const kindCode = (spec: DimensionSpec): string =>
  spec.kind === "rate" ? "r" : spec.kind === "window" ? "w" : "c";

/** Layouts are a function of the dimension list alone; plans reuse their lists. */
const layouts = new WeakMap<readonly DimensionSpec[], Layout>();

function layoutOf(dimensions: readonly DimensionSpec[]): Layout {
  let layout = layouts.get(dimensions);
  if (!layout) {
    const scopes: string[] = [];
    const leases: Layout["leases"] = [];
    const specs = dimensions.map((spec) => {
      // Scope 1 is the request's own key; others are numbered in order of first appearance.
      let scope = 1;
      if (spec.scope !== undefined) {
        let at = scopes.indexOf(spec.scope);
        if (at < 0) at = scopes.push(spec.scope) - 1;
        scope = at + 2;
      }
      if (spec.kind === "concurrency") leases.push({ scope, suffix: `:lease:${spec.name}` });
      const period = spec.kind === "concurrency" ? spec.leaseMs : spec.periodMs;
      const anchored = spec.kind === "window" && spec.anchorMs !== undefined;
      const fields: unknown[] = [
        spec.name,
        kindCode(spec),
        spec.limit,
        period,
        anchored ? spec.anchorMs : 0,
        anchored,
      ];
      if (scope !== 1) fields.push(scope);
      return fields;
    });
    layout = { specs: JSON.stringify(specs), scopes, leases };
    layouts.set(dimensions, layout);
  }
  return layout;
}

const hashTag = (prefix: string, { key, slot }: Owner) => `${prefix}{${slot ?? key}}`;

/** The key's own state. Without a slot (or with the key as its slot) its name is the tag itself. */
export function ownKey(prefix: string, owner: Owner): string {
  const tag = hashTag(prefix, owner);
  return owner.slot === undefined || owner.slot === owner.key ? tag : `${tag}:k:${owner.key}`;
}

/** The charge record of a request: in its key's slot, so the script settles it atomically. */
export function chargeRecordKey(prefix: string, owner: Owner, leaseId: string): string {
  return `${ownKey(prefix, owner)}:charge:${leaseId}`;
}

/** The script's arguments for one call. */
export function scriptArgs(call: {
  prefix: string;
  op: ScriptOp;
  request: Owner & { dimensions: readonly DimensionSpec[] };
  amounts: readonly number[];
  leaseId: string | undefined;
  /** The instant to decide at; "" lets the script read Redis's clock. */
  now: number | "";
  track?: Tracking | undefined;
  /** The charge index's key, where the script itself indexes the record (not on a cluster). */
  indexKey?: string | undefined;
}): Array<string | number> {
  const { prefix, op, request, amounts, leaseId, now, track, indexKey } = call;
  const tag = hashTag(prefix, request);
  const { specs, scopes, leases } = layoutOf(request.dimensions);
  const states = [ownKey(prefix, request), ...scopes.map((scope) => `${tag}:s:${scope}`)];
  const costs = `[${amounts.join(",")}]`;
  const leaseKeys = leases.map(({ scope, suffix }) => (states[scope - 1] as string) + suffix);
  const argv: Array<string | number> = [op, now, leaseId ?? "", specs, costs];
  if (track !== undefined) {
    const { record, requestId, lostAtMs } = track;
    argv.push(states.length, "track", CHARGE_RECORD_TTL_MS, requestId ?? "");
    if (indexKey !== undefined && (op === "check" || op === "reconcile")) {
      argv.push("indexed", lostAtMs);
      return [states.length + leaseKeys.length + 2, ...states, ...leaseKeys, record, indexKey, ...argv];
    }
    return [states.length + leaseKeys.length + 1, ...states, ...leaseKeys, record, ...argv];
  }
  if (scopes.length > 0) argv.push(states.length);
  return [states.length + leaseKeys.length, ...states, ...leaseKeys, ...argv];
}

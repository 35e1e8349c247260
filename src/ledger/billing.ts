/**
 * Who pays for a request that failed (issue: nobody pays for the service's failures). An outcome
 * of 500 and above — the upstream's 5xx, a reset, a timeout, a stream the upstream cut, a 529
 * from shedding, a gateway shutdown — is the service's failure: by default it moves neither the
 * caller's windows nor their bill, though the ledger keeps its tokens and reason. A plan may say
 * `charge_on_service_failure: delivered`: then the output actually delivered before the failure
 * is charged (and nothing else). Anything below 500 is charged as used, a client that left
 * (499) included, for what it was sent.
 */

/** How a ledger row is charged: in full, not at all, or only its delivered output. */
export type Billing = "full" | "none" | "delivered";

/** A plan's choice for service failures. */
export type ServiceFailureCharge = "none" | "delivered";

export const BILLINGS: readonly Billing[] = ["full", "none", "delivered"];

export function isServiceFailure(status: number): boolean {
  return status >= 500;
}

export function billingOf(status: number, onServiceFailure: ServiceFailureCharge = "none"): Billing {
  if (!isServiceFailure(status)) return "full";
  return onServiceFailure === "delivered" ? "delivered" : "none";
}

interface Tokens {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_1h_input_tokens?: number | undefined;
}

/** The part of a request's usage that is charged under `billing`. */
export function chargedTokens<T extends Tokens>(usage: T, billing: Billing): T {
  if (billing === "full") return usage;
  return {
    ...usage,
    input_tokens: 0,
    output_tokens: billing === "delivered" ? usage.output_tokens : 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_1h_input_tokens: 0,
  };
}

/**
 * A model served by several deployments (the same model at two sites, regions or provider
 * accounts), as one Upstream. Each request tries deployments in an order chosen per request —
 * by live free capacity (`capacity`, weights breaking ties) or by weight alone (`weighted`) —
 * skipping those whose circuit breaker is open. A failure before the first output byte
 * (connect error, reset, 5xx, 529, an `error` event as the stream's first event) moves on to
 * the next deployment after a jittered backoff, then to the model's fallback models; once an
 * event has been handed on, nothing is retried. The edge above never sees which one answered,
 * except in the logs and /metrics.
 */

import { errorFromUpstream, HeadroomError, overloaded } from "../common/errors.ts";
import type { RoutingConfig } from "../config/schema.ts";
import type { SseEvent } from "../protocol/anthropic.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { CircuitBreaker } from "./circuit-breaker.ts";
import type { DeploymentHealth, MessageCall, MessageReply, Upstream } from "./upstream.ts";

export interface DeploymentTarget {
  /** The upstream's name, as /metrics labels it. */
  name: string;
  upstream: Upstream;
  weight: number;
  /** The id this deployment knows the model by, when not the request's. */
  upstreamModel?: string;
  /** Requests this deployment can serve at once, when known (simulated slots, capacity_concurrency). */
  capacity?: () => number | undefined;
}

export interface BalancerOptions extends RoutingConfig {
  clock: () => number;
  /** Uniform in [0, 1); injected so tests can check weights deterministically. */
  random?: () => number;
  /** Waits between attempts; injected so tests need not wait. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  metrics?: Pick<Metrics, "deploymentAttempts" | "fallbacks" | "breakerOpen" | "firstByte">;
}

interface Candidate extends DeploymentTarget {
  breaker: CircuitBreaker;
  inFlight: number;
  /** Time to first byte, moving average (ms); undefined before the first answer. */
  latencyMs?: number;
  /** Set for a fallback model: the model id it stands for. */
  fallbackModel?: string;
}

const RETRIABLE_EVENT_ERRORS = new Set(["overloaded_error", "api_error"]);
/** Weight of the newest time to first byte in a deployment's moving average. */
const LATENCY_WEIGHT = 0.2;

/** Connect errors, resets, timeouts, 5xx and 529 are the deployment's fault; 4xx are the request's. */
export function isRetriable(error: unknown): boolean {
  return error instanceof HeadroomError && error.status >= 500;
}

const abortableSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });

export class DeploymentBalancer implements Upstream {
  private readonly deployments: Candidate[];
  private readonly checks: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(
    readonly name: string,
    /** The catalog model these are deployments of. */
    readonly model: string,
    deployments: DeploymentTarget[],
    /** Fallback models, resolved when first needed (their upstreams may be built after this one). */
    private readonly fallbacks: () => Array<DeploymentTarget & { model: string }>,
    private readonly options: BalancerOptions,
  ) {
    const breaker = () =>
      new CircuitBreaker(options.breaker_failures, options.breaker_cooldown_ms, options.clock);
    this.deployments = deployments.map((target) => ({ ...target, breaker: breaker(), inFlight: 0 }));
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? abortableSleep;
    const interval = options.health_check_interval_ms;
    if (interval > 0 && this.deployments.some((candidate) => candidate.upstream.probe)) {
      this.checks = setInterval(() => {
        // One round at a time: a slow probe is not stacked on by the next interval's.
        if (this.checking) return;
        this.checking = true;
        void this.checkHealth(options.health_check_timeout_ms).finally(() => {
          this.checking = false;
        });
      }, interval);
      // Health checks never keep the process alive on their own.
      this.checks.unref();
    }
  }

  /**
   * Probes every deployment that can be probed: a failure counts against its breaker like a
   * failed request; a success closes it, so a deployment that came back gets traffic again
   * without waiting for its cooldown to end.
   */
  async checkHealth(timeoutMs: number): Promise<void> {
    await Promise.all(
      this.deployments.map(async (candidate) => {
        if (!candidate.upstream.probe) return;
        try {
          await candidate.upstream.probe(timeoutMs);
          candidate.breaker.success();
        } catch {
          candidate.breaker.failure();
        }
        this.options.metrics?.breakerOpen.set(
          { model: this.model, deployment: candidate.name },
          candidate.breaker.state === "closed" ? 0 : 1,
        );
      }),
    );
  }

  /** A protocol passes through only if every deployment (and fallback) would take it as it came. */
  speaks(protocol: "responses"): boolean {
    return [...this.deployments, ...this.fallbacks()].every(
      (target) => target.upstream.speaks?.(protocol) === true,
    );
  }

  /** Free capacity of a deployment, or undefined when it is not known. */
  private free(candidate: Candidate): number | undefined {
    const capacity = candidate.capacity?.();
    return capacity === undefined ? undefined : capacity - candidate.inFlight;
  }

  /**
   * This request's order over the deployments whose breaker is not open: a weighted random
   * permutation (each key u^(1/weight), largest first), re-sorted by free capacity under the
   * `capacity` strategy where capacity is known.
   */
  order(): Candidate[] {
    const keyed = this.deployments
      .filter((candidate) => candidate.breaker.state !== "open")
      .map((candidate) => ({ candidate, key: this.random() ** (1 / candidate.weight) }));
    keyed.sort((a, b) => b.key - a.key);
    const ordered = keyed.map(({ candidate }) => candidate);
    if (this.options.strategy !== "capacity") return ordered;
    const free = new Map(ordered.map((candidate) => [candidate, this.free(candidate)]));
    // Stable: deployments of unknown capacity keep their weighted place after the known ones.
    return ordered.sort((a, b) => (free.get(b) ?? -Infinity) - (free.get(a) ?? -Infinity));
  }

  /** Deployments and their breaker state, for /metrics and the admin surface. */
  deploymentHealth(): DeploymentHealth[] {
    return this.deployments.map((candidate) => ({
      model: this.model,
      deployment: candidate.name,
      state: candidate.breaker.state,
      inFlight: candidate.inFlight,
      free: this.free(candidate),
      latencyMs: candidate.latencyMs,
    }));
  }

  async createMessage(call: MessageCall): Promise<MessageReply> {
    const fallbackCandidates = (): Candidate[] =>
      this.fallbacks().map((target) => ({
        ...target,
        fallbackModel: target.model,
        breaker: new CircuitBreaker(Number.POSITIVE_INFINITY, 1, this.options.clock),
        inFlight: 0,
      }));
    let attempts = 0;
    let lastError: unknown;
    let queue = this.order();
    let fellBack = false;
    while (attempts <= this.options.retries) {
      const candidate = queue.shift();
      if (!candidate) {
        if (fellBack) break;
        fellBack = true;
        queue = fallbackCandidates();
        continue;
      }
      if (!candidate.breaker.tryAcquire()) continue;
      if (attempts > 0) {
        // Full jitter over an exponential ceiling, so retries from many requests spread out.
        const ceiling = Math.min(2_000, this.options.backoff_ms * 2 ** (attempts - 1));
        try {
          await this.sleep(this.random() * ceiling, call.signal);
        } catch (error) {
          candidate.breaker.release();
          throw error;
        }
      }
      attempts++;
      try {
        const started = this.options.clock();
        const reply = await this.attempt(candidate, call);
        this.observeLatency(candidate, this.options.clock() - started);
        call.placed?.(candidate.fallbackModel ?? candidate.name);
        if (candidate.fallbackModel)
          this.options.metrics?.fallbacks.inc({ model: this.model, fallback: candidate.fallbackModel });
        return reply;
      } catch (error) {
        if (call.signal.aborted) {
          candidate.breaker.release();
          this.count(candidate, "aborted");
          throw error;
        }
        if (!isRetriable(error)) {
          // The request's own fault (4xx): the deployment answered, so it is healthy.
          candidate.breaker.success();
          throw error;
        }
        candidate.breaker.failure();
        this.count(candidate, "failed");
        lastError = error;
      }
    }
    throw (
      lastError ?? overloaded(`No deployment of ${this.model} can take requests right now; retry shortly.`, 5)
    );
  }

  /** A first byte slower than slow_after_ms counts against the breaker, like a failure. */
  private observeLatency(candidate: Candidate, waitedMs: number): void {
    candidate.latencyMs =
      candidate.latencyMs === undefined
        ? waitedMs
        : candidate.latencyMs + LATENCY_WEIGHT * (waitedMs - candidate.latencyMs);
    this.options.metrics?.firstByte.set(
      { model: this.model, deployment: candidate.fallbackModel ?? candidate.name },
      candidate.latencyMs / 1000,
    );
    const slowAfter = this.options.slow_after_ms;
    if (slowAfter > 0 && waitedMs > slowAfter) {
      candidate.breaker.failure();
      this.count(candidate, "slow");
    } else {
      candidate.breaker.success();
      this.count(candidate, "ok");
    }
  }

  private count(candidate: Candidate, outcome: "ok" | "slow" | "failed" | "aborted"): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    const labels = { model: this.model, deployment: candidate.fallbackModel ?? candidate.name };
    metrics.deploymentAttempts.inc({ ...labels, outcome });
    if (!candidate.fallbackModel)
      metrics.breakerOpen.set(labels, candidate.breaker.state === "closed" ? 0 : 1);
  }

  /** One call; resolves once the deployment has produced its first event (or its whole message). */
  private async attempt(candidate: Candidate, call: MessageCall): Promise<MessageReply> {
    const model = candidate.upstreamModel;
    const renamed = model !== undefined && model !== call.body.model;
    candidate.inFlight++;
    let handedOn = false;
    try {
      const reply = await candidate.upstream.createMessage({
        ...call,
        body: renamed ? { ...call.body, model } : call.body,
        rawBody: renamed ? undefined : call.rawBody,
      });
      if (reply.kind === "message") return reply;
      const iterator = reply.events[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (!first.done && first.value.event === "error") {
        const { error } = JSON.parse(first.value.data) as { error?: { type?: string; message?: string } };
        if (RETRIABLE_EVENT_ERRORS.has(error?.type ?? "api_error")) {
          await iterator.return?.(undefined);
          const type = error?.type ?? "api_error";
          throw errorFromUpstream(
            type,
            error?.message ?? "The upstream failed.",
            type === "overloaded_error" ? 529 : 502,
          );
        }
      }
      handedOn = true;
      return { kind: "events", events: this.resume(first, iterator, candidate) };
    } finally {
      if (!handedOn) candidate.inFlight--;
    }
  }

  /** The stream from its first event on; the deployment's in-flight count drops when it ends. */
  private async *resume(
    first: IteratorResult<SseEvent>,
    rest: AsyncIterator<SseEvent>,
    candidate: Candidate,
  ): AsyncGenerator<SseEvent> {
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
    } finally {
      candidate.inFlight--;
      await rest.return?.(undefined);
    }
  }

  async close(): Promise<void> {
    // The deployments' upstreams are closed by their own owner (the gateway), not here.
    clearInterval(this.checks);
  }
}

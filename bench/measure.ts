/**
 * A small harness for throughput and latency under a fixed number of operations in flight:
 * `concurrency` loops each await one operation after another for `durationMs` (after a warm-up),
 * counting completions and sampling latencies.
 */
export interface Measurement {
  name: string;
  opsPerSecond: number;
  p50Us: number;
  p99Us: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

export async function measure(
  name: string,
  /** A promise is awaited; a plain value (a store that answers at once) is not. */
  operation: (i: number) => unknown,
  options: { concurrency?: number; durationMs?: number; warmupMs?: number; sampleEvery?: number } = {},
): Promise<Measurement> {
  const concurrency = options.concurrency ?? 1;
  const durationMs = options.durationMs ?? 1_500;
  const sampleEvery = options.sampleEvery ?? 8;
  const run = async (ms: number, record: boolean) => {
    const latencies: number[] = [];
    let completed = 0;
    let counter = 0;
    const stopAt = performance.now() + ms;
    const loop = async () => {
      while (performance.now() < stopAt) {
        // Check the clock in batches: performance.now() costs about as much as a memory decision.
        for (let k = 0; k < 64; k++) {
          const i = counter++;
          if (record && i % sampleEvery === 0) {
            const start = performance.now();
            const result = operation(i);
            if (result instanceof Promise) await result;
            latencies.push(performance.now() - start);
          } else {
            const result = operation(i);
            if (result instanceof Promise) await result;
          }
          completed++;
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, loop));
    const elapsed = performance.now() - started;
    return { completed, elapsed, latencies };
  };
  await run(options.warmupMs ?? 300, false);
  (globalThis as { gc?: () => void }).gc?.();
  const { completed, elapsed, latencies } = await run(durationMs, true);
  const sorted = Float64Array.from(latencies).sort();
  return {
    name,
    opsPerSecond: (completed / elapsed) * 1000,
    p50Us: percentile(sorted, 0.5) * 1000,
    p99Us: percentile(sorted, 0.99) * 1000,
  };
}

const format = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);

/** Prints one comparison row: ours, the peer's, and the ratio. */
export function compare(label: string, ours: Measurement, peer: Measurement, target?: number): string {
  const ratio = ours.opsPerSecond / peer.opsPerSecond;
  const verdict =
    target === undefined
      ? ""
      : ratio >= target
        ? `  (target ≥ ${target}×: met)`
        : `  (target ≥ ${target}×: MISSED)`;
  return (
    `${label.padEnd(44)} headroom ${format(ours.opsPerSecond).padStart(7)}/s p50 ${ours.p50Us.toFixed(1).padStart(6)}µs p99 ${ours.p99Us.toFixed(1).padStart(7)}µs | ` +
    `${peer.name} ${format(peer.opsPerSecond).padStart(7)}/s p50 ${peer.p50Us.toFixed(1).padStart(6)}µs p99 ${peer.p99Us.toFixed(1).padStart(7)}µs | ratio ${ratio.toFixed(2)}×${verdict}`
  );
}

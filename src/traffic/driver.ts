/**
 * Sends a schedule of requests to a running gateway (Anthropic Messages, the simulated upstream's
 * `sim:tokens=N` asking for each reply's length), a few at a time, as each user's own key.
 * Refusals (429) and overloads (529) are answers like any other: the ledger records them.
 */
import type { ScheduledRequest } from "./population.ts";

export interface DriveOptions {
  baseUrl: string;
  keyOf: (user: string) => string;
  /** Requests in flight at once. */
  concurrency: number;
  /** Called before each request is sent, with its scheduled instant (a test's clock; real-time pacing). */
  beforeRequest?: (request: ScheduledRequest) => Promise<void> | void;
  onProgress?: (sent: number, total: number, statuses: Record<number, number>) => void;
}

export async function drive(
  requests: readonly ScheduledRequest[],
  options: DriveOptions,
): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  let sent = 0;
  let index = 0;
  const worker = async () => {
    while (index < requests.length) {
      const request = requests[index++] as ScheduledRequest;
      await options.beforeRequest?.(request);
      let status = 0;
      try {
        const response = await fetch(`${options.baseUrl}/v1/messages`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-api-key": options.keyOf(request.user),
            "anthropic-version": "2023-06-01",
          },
          body: JSON.stringify({
            model: request.model,
            max_tokens: request.outputTokens,
            messages: [{ role: "user", content: `sim:tokens=${request.outputTokens}` }],
          }),
        });
        status = response.status;
        await response.arrayBuffer();
      } catch {
        status = 0;
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      sent++;
      options.onProgress?.(sent, requests.length, statuses);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  return statuses;
}

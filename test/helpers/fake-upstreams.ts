/**
 * Local servers that speak the exact wire formats of the Anthropic API and of an
 * OpenAI-compatible server, to test headroom's real upstream adapters. The requested model id
 * picks the behaviour (`…-cut` cuts the stream mid-way, `…-429` rate-limits, …).
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeUpstream {
  url: string;
  requests: Array<{
    path: string;
    headers: IncomingMessage["headers"];
    body: Record<string, unknown>;
    /** The body's bytes as they arrived. */
    text: string;
  }>;
  /** Models of never-answered calls whose connection the gateway closed. */
  abandoned?: string[];
  close(): Promise<void>;
}

function sse(response: ServerResponse, event: string, payload: unknown): void {
  response.write(`event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`);
}

async function readBody(request: IncomingMessage): Promise<{ body: Record<string, unknown>; text: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return { body: JSON.parse(text), text };
}

/** GET /v1/models (what a health probe asks for): an empty list. Not recorded as a request. */
function answeredModels(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method !== "GET" || !request.url?.endsWith("/models")) return false;
  response.writeHead(200, { "content-type": "application/json" }).end('{"data":[]}');
  return true;
}

async function listen(server: Server, requests: FakeUpstream["requests"]): Promise<FakeUpstream> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const usage = { input_tokens: 11, cache_creation_input_tokens: 5, cache_read_input_tokens: 100 };

export async function startFakeAnthropic(): Promise<FakeUpstream> {
  const requests: FakeUpstream["requests"] = [];
  const abandoned: string[] = [];
  const server = createServer(async (request, response) => {
    if (answeredModels(request, response)) return;
    const { body, text } = await readBody(request);
    requests.push({ path: request.url ?? "", headers: request.headers, body, text });
    const model = String(body.model);
    if (request.url === "/v1/messages/count_tokens") {
      response
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ input_tokens: 77 }));
      return;
    }
    if (model.endsWith("-429")) {
      response.writeHead(429, { "content-type": "application/json", "retry-after": "7" }).end(
        JSON.stringify({
          type: "error",
          error: { type: "rate_limit_error", message: "upstream says slow down" },
        }),
      );
      return;
    }
    if (model.endsWith("-500")) {
      response.writeHead(500, { "content-type": "text/html" }).end("<html>boom</html>");
      return;
    }
    if (model.endsWith("-529")) {
      response
        .writeHead(529, { "content-type": "application/json" })
        .end(JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }));
      return;
    }
    if (model.endsWith("-malformed")) {
      // A stream whose first event is not JSON: a broken proxy or upstream.
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.end("event: message_start\ndata: {this is not json\n\n");
      return;
    }
    if (model.endsWith("-reset")) {
      // The connection drops before a status line: a crashed or restarting upstream.
      response.socket?.destroy();
      return;
    }
    if (model.endsWith("-trickle")) {
      // Headers at once, then the first event one byte every 5 ms: bytes keep coming, an event never does.
      response.writeHead(200, { "content-type": "text/event-stream" });
      const bytes = Buffer.from(
        `event: message_start\ndata: ${JSON.stringify({ type: "message_start", pad: "x".repeat(4_000) })}\n\n`,
      );
      let at = 0;
      const timer = setInterval(() => {
        if (at < bytes.length) response.write(bytes.subarray(at, ++at));
      }, 5);
      response.on("close", () => {
        clearInterval(timer);
        abandoned.push(`${model}@${at}`);
      });
      return;
    }
    if (model.endsWith("-slow")) {
      // Never answers: only the gateway's timeout, or the gateway giving up, ends this request.
      response.on("close", () => abandoned.push(String(body.model)));
      return;
    }
    const message = {
      id: "msg_fake",
      type: "message",
      role: "assistant",
      model,
      content: [{ type: "text", text: "Hello from upstream" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { ...usage, output_tokens: 4 },
      future_field: "kept",
    };
    if (!body.stream) {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(message));
      return;
    }
    response.writeHead(200, { "content-type": "text/event-stream" });
    sse(response, "message_start", {
      type: "message_start",
      message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
    });
    sse(response, "content_block_start", {
      type: "content_block_start",
      index: 0,
      content_block: { type: "text", text: "" },
    });
    sse(response, "content_block_delta", {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: "Hello from" },
    });
    if (model.endsWith("-stall")) {
      // Keeps the connection open and sends nothing more: a stream that hangs mid-way.
      response.on("close", () => abandoned.push(model));
      return;
    }
    if (model.endsWith("-cut")) {
      // Let the first events reach the gateway, then drop the connection without message_stop.
      setTimeout(() => response.socket?.destroy(), 50);
      return;
    }
    sse(response, "future_event", { type: "future_event", note: "clients must ignore unknown events" });
    sse(response, "content_block_delta", {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: " upstream" },
    });
    sse(response, "content_block_stop", { type: "content_block_stop", index: 0 });
    sse(response, "message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 4 },
    });
    sse(response, "message_stop", { type: "message_stop" });
    response.end();
  });
  return { ...(await listen(server, requests)), abandoned };
}

function chunk(model: string, delta: Record<string, unknown>, finish: string | null = null) {
  return {
    id: "chatcmpl-fake",
    object: "chat.completion.chunk",
    created: 1,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

export async function startFakeOpenAI(): Promise<FakeUpstream> {
  const requests: FakeUpstream["requests"] = [];
  const server = createServer(async (request, response) => {
    if (answeredModels(request, response)) return;
    const { body, text } = await readBody(request);
    requests.push({ path: request.url ?? "", headers: request.headers, body, text });
    if (request.url?.endsWith("/responses")) {
      answerResponses(body, response);
      return;
    }
    const model = String(body.model);
    const wantsTool = Array.isArray(body.tools) && body.tools.length > 0;
    if (!body.stream) {
      const message = wantsTool
        ? {
            role: "assistant",
            content: null,
            tool_calls: [
              { id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } },
            ],
          }
        : { role: "assistant", content: "Hi from vLLM" };
      response.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id: "chatcmpl-fake",
          object: "chat.completion",
          created: 1,
          model,
          choices: [{ index: 0, message, finish_reason: wantsTool ? "tool_calls" : "stop" }],
          usage: {
            prompt_tokens: 20,
            completion_tokens: 6,
            total_tokens: 26,
            prompt_tokens_details: { cached_tokens: 8 },
          },
        }),
      );
      return;
    }
    response.writeHead(200, { "content-type": "text/event-stream" });
    const data = (payload: unknown) => response.write(`data: ${JSON.stringify(payload)}\n\n`);
    data(chunk(model, { role: "assistant", content: "" }));
    if (wantsTool) {
      data(
        chunk(model, {
          tool_calls: [
            { index: 0, id: "call_1", type: "function", function: { name: "lookup", arguments: "" } },
          ],
        }),
      );
      data(chunk(model, { tool_calls: [{ index: 0, function: { arguments: '{"q":' } }] }));
      data(chunk(model, { tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] }));
      data(chunk(model, {}, "tool_calls"));
    } else {
      data(chunk(model, { content: "Hi" }));
      if (model.endsWith("-cut")) {
        setTimeout(() => response.socket?.destroy(), 50);
        return;
      }
      data(chunk(model, { content: " from vLLM" }));
      data(chunk(model, {}, "stop"));
    }
    data({
      id: "chatcmpl-fake",
      object: "chat.completion.chunk",
      created: 1,
      model,
      choices: [],
      usage: { prompt_tokens: 20, completion_tokens: 6, total_tokens: 26 },
    });
    response.write("data: [DONE]\n\n");
    response.end();
  });
  return listen(server, requests);
}

/** The events a Responses server streams for one short text answer (with one vendor event). */
export const FAKE_RESPONSE_EVENTS = (model: string): Array<Record<string, unknown>> => {
  const item = { id: "msg_up", type: "message", status: "in_progress", role: "assistant", content: [] };
  const part = { type: "output_text", text: "", annotations: [] };
  const text = "Hi there";
  const done = { ...item, status: "completed", content: [{ ...part, text }] };
  const response = (status: string, extra: Record<string, unknown> = {}) => ({
    id: "resp_up",
    object: "response",
    created_at: 1,
    status,
    model,
    output: status === "completed" ? [done] : [],
    x_vendor_field: "kept",
    ...extra,
  });
  const usage = {
    input_tokens: 30,
    input_tokens_details: { cached_tokens: 10 },
    output_tokens: 7,
    output_tokens_details: { reasoning_tokens: 2 },
    total_tokens: 37,
  };
  return [
    { type: "response.created", response: response("in_progress") },
    { type: "response.in_progress", response: response("in_progress") },
    { type: "response.vendor_event", note: "clients skip what they do not know" },
    { type: "response.output_item.added", output_index: 0, item },
    { type: "response.content_part.added", item_id: "msg_up", output_index: 0, content_index: 0, part },
    { type: "response.output_text.delta", item_id: "msg_up", output_index: 0, content_index: 0, delta: "Hi" },
    {
      type: "response.output_text.delta",
      item_id: "msg_up",
      output_index: 0,
      content_index: 0,
      delta: " there",
    },
    { type: "response.output_text.done", item_id: "msg_up", output_index: 0, content_index: 0, text },
    { type: "response.output_item.done", output_index: 0, item: done },
    { type: "response.completed", response: response("completed", { usage }) },
  ].map((event, index) => ({ ...event, sequence_number: index }));
};

/** POST /v1/responses: the whole response as JSON, or its events (cut after a delta for "-cut"). */
function answerResponses(body: Record<string, unknown>, response: ServerResponse): void {
  const model = String(body.model);
  const events = FAKE_RESPONSE_EVENTS(model);
  if (!body.stream) {
    const completed = events[events.length - 1] as { response: unknown };
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(completed.response));
    return;
  }
  response.writeHead(200, { "content-type": "text/event-stream" });
  for (const event of events) {
    response.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (model.endsWith("-cut") && event.type === "response.output_text.delta") {
      setTimeout(() => response.socket?.destroy(), 50);
      return;
    }
  }
  response.end();
}

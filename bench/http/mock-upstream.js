// A mock Anthropic Messages upstream for the gateway benchmark: a fixed short reply, as JSON or
// as an SSE stream of 10 text deltas, with usage. Prints "ready <port>" once listening.
import { createServer } from "node:http";

const usage = {
  input_tokens: 12,
  output_tokens: 10,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};
const message = (model) => ({
  id: "msg_bench",
  type: "message",
  role: "assistant",
  model,
  content: [{ type: "text", text: "one two three four five six seven eight nine ten" }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage,
});
const event = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
function stream(model) {
  const start = { ...message(model), content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } };
  const parts = [
    event("message_start", { type: "message_start", message: start }),
    event("content_block_start", {
      type: "content_block_start",
      index: 0,
      content_block: { type: "text", text: "" },
    }),
  ];
  for (const word of "one two three four five six seven eight nine ten".split(" "))
    parts.push(
      event("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text: ` ${word}` },
      }),
    );
  parts.push(event("content_block_stop", { type: "content_block_stop", index: 0 }));
  parts.push(
    event("message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 10 },
    }),
  );
  parts.push(event("message_stop", { type: "message_stop" }));
  return parts;
}

const server = createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    let body = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString() || "{}");
    } catch {}
    const model = body.model ?? "claude-sonnet-4-5";
    const prompt = body.messages?.[0]?.content;
    if (body.stream && prompt === "timed") {
      // 25 deltas 20 ms apart, each carrying the instant it was sent (ms, comparable across
      // processes of this machine), for the per-event latency of whatever sits in between.
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const parts = stream(model);
      response.write(parts[0]);
      response.write(parts[1]);
      let sent = 0;
      const timer = setInterval(() => {
        const at = performance.timeOrigin + performance.now();
        response.write(
          event("content_block_delta", {
            type: "content_block_delta",
            index: 0,
            delta: { type: "text_delta", text: ` t=${at.toFixed(3)}` },
          }),
        );
        if (++sent === 25) {
          clearInterval(timer);
          for (const part of parts.slice(-3)) response.write(part);
          response.end();
        }
      }, 20);
      return;
    }
    if (body.stream) {
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for (const part of stream(model)) response.write(part);
      response.end();
    } else {
      const text = JSON.stringify(message(model));
      response.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      response.end(text);
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => console.log(`ready ${server.address().port}`));

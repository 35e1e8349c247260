// The ceiling: a minimal reverse proxy with undici (one keep-alive pool to the upstream), no
// auth, no limits, no ledger. Streams both ways. Prints "ready <port>" once listening.
import { createServer } from "node:http";
import { Pool } from "undici";

const upstream = process.argv[2];
const pool = new Pool(upstream, { connections: 128 });
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "host", "content-length"]);
const server = createServer(async (request, response) => {
  const headers = {};
  for (const [name, value] of Object.entries(request.headers)) if (!HOP.has(name)) headers[name] = value;
  try {
    const reply = await pool.request({ path: request.url, method: request.method, headers, body: request });
    const out = {};
    for (const [name, value] of Object.entries(reply.headers)) if (!HOP.has(name)) out[name] = value;
    response.writeHead(reply.statusCode, out);
    for await (const chunk of reply.body) response.write(chunk);
    response.end();
  } catch (error) {
    response.writeHead(502).end(String(error));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log(`ready ${server.address().port}`));

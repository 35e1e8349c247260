/**
 * A TCP proxy in front of a real server that can be made to hang: while frozen it accepts bytes
 * and answers none, like a server that stopped responding. Other clients of the real server
 * are not affected, so tests running beside it keep their own behaviour.
 */
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";

export interface FreezableProxy {
  url: string;
  freeze(): void;
  close(): Promise<void>;
}

export async function startFreezableProxy(target: URL): Promise<FreezableProxy> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => socket.destroy());
      socket.on("close", () => sockets.delete(socket));
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("data", (chunk) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!frozen) client.write(chunk);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const url = new URL(target.href);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.href,
    freeze: () => {
      frozen = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

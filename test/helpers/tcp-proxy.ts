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
  /** Like a server that went away: open connections are reset, new ones refused (closed at once). */
  down(): void;
  /** The server is back: connections pass again. */
  up(): void;
  /** Holds every reply this long before passing it on (a slow link or a busy server); 0: none. */
  delay(ms: number): void;
  close(): Promise<void>;
}

export async function startFreezableProxy(target: URL): Promise<FreezableProxy> {
  let frozen = false;
  let isDown = false;
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = connect(
      Number(target.port || (target.protocol.startsWith("postgres") ? 5432 : 6379)),
      target.hostname,
    );
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
      if (frozen) return;
      // Equal delays fire in the order they were set: replies keep their order.
      if (delayMs > 0) setTimeout(() => client.writable && client.write(chunk), delayMs);
      else client.write(chunk);
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
    down: () => {
      isDown = true;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    delay: (ms) => {
      delayMs = ms;
    },
    up: () => {
      isDown = false;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

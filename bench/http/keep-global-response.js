// Preloaded into Portkey's gateway for the benchmark only. @hono/node-server replaces Node's
// global Request and Response with its own; Portkey's streaming Anthropic path then answers 500
// on Node (Portkey issues 1389 and 1550). Keeping Node's own globals is the known workaround.
const define = Object.defineProperty;
Object.defineProperty = (target, property, descriptor) => {
  if (target === globalThis && (property === "Request" || property === "Response")) return target;
  return define(target, property, descriptor);
};

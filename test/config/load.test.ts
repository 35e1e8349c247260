import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import * as schema from "../../src/config/schema.ts";
import { ModelRouter } from "../../src/upstreams/routing.ts";

const dir = mkdtempSync(join(tmpdir(), "headroom-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function loadText(text: string, env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return { file, load: () => loadConfig({ file, env }) };
}

function assertConfigError(text: string, pattern: RegExp) {
  const { file, load } = loadText(text);
  assert.throws(load, (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.ok(error.message.startsWith(file), `names the file: ${error.message}`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe("configuration", () => {
  test("no file gives the embedded defaults", () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.server.port, 8787);
    assert.equal(config.server.host, "127.0.0.1");
    assert.equal(config.upstreams.simulated?.type, "simulated");
  });

  test("the example file with every option loads", () => {
    const config = loadConfig({ file: "examples/gateway.yaml", env: {} });
    assert.equal(config.upstreams.vllm?.type, "openai");
    assert.match(
      config.capacity?.fleet ?? "",
      /examples\/colossus-fleet\.yaml$/,
      "resolved against the config file",
    );
    assert.equal(
      new ModelRouter(config).resolve("llama-3")?.upstreamModel,
      "meta-llama/Llama-3.3-70B-Instruct",
    );
    assert.equal(new ModelRouter(config).resolve("claude-opus-5")?.upstreamModel, "claude-opus-5");
    assert.equal(
      new ModelRouter(config).resolve("llama")?.upstreamModel,
      "meta-llama/Llama-3.3-70B-Instruct",
    );
    // The file's route wins over the default one, and sends the catalog id upstream.
    const gpt = new ModelRouter(config).resolve("gpt-5.5");
    assert.equal(gpt?.entry.id, "claude-haiku-4-5");
    assert.equal(gpt?.upstreamModel, "claude-haiku-4-5");
    assert.equal(gpt?.requested, "gpt-5.5");
  });

  test("the example file names every option of every section", () => {
    const text = readFileSync("examples/gateway.yaml", "utf8");
    const sections = {
      file: schema.configFileSchema,
      server: schema.serverSchema,
      simulated: schema.simulatedUpstreamSchema,
      anthropic: schema.anthropicUpstreamSchema,
      openai: schema.openAIUpstreamSchema,
      model: schema.modelSchema.in,
      simulation: schema.simulationProfileSchema,
      deployment: schema.deploymentSchema,
      routing: schema.routingSchema,
      route: schema.routeSchema,
      limiter: schema.limiterSchema,
      metrics: schema.metricsSchema,
      capacity: schema.capacitySchema,
    };
    const missing = Object.entries(sections).flatMap(([section, object]) =>
      Object.keys(object.shape)
        .filter((key) => key !== "type" && !new RegExp(`\\b${key}:`).test(text))
        .map((key) => `${section}.${key}`),
    );
    assert.deepEqual(missing, [], "options a reader of the example would never learn of");
  });

  test("by default OpenAI ids are served by the Sonnet class under its own id; newer Claude ids pass through", () => {
    const router = new ModelRouter(loadConfig({ env: {} }));
    for (const id of ["gpt-5.5", "gpt-5.1-codex", "codex-mini-latest", "o3", "o4-mini"]) {
      const resolved = router.resolve(id);
      assert.equal(resolved?.entry.family, "sonnet", id);
      assert.equal(resolved?.upstreamModel, "claude-sonnet-4-6", id);
    }
    assert.equal(router.resolve("claude-sonnet-4-5-20250929")?.upstreamModel, "claude-sonnet-4-5-20250929");
    assert.equal(router.resolve("gemini-3"), undefined);
  });

  const deployed = (extra: string) =>
    `upstreams:\n  a: { type: anthropic, url: "http://127.0.0.1:9" }\nmodels:\n  - id: m\n    display_name: M\n    created_at: "2026-01-01T00:00:00Z"\n    family: f\n${extra}`;
  test("a model's deployments must name configured upstreams", () =>
    assertConfigError(
      deployed("    deployments:\n      - upstream: a\n      - upstream: nowhere\n"),
      /models\.\d+\.deployments\.1\.upstream: no upstream named "nowhere"/,
    ));
  test("a model has an upstream or deployments, not both, not neither", () => {
    assertConfigError(
      deployed("    upstream: a\n    deployments:\n      - upstream: a\n"),
      /give either upstream or deployments/,
    );
    assertConfigError(deployed(""), /give either upstream or deployments/);
  });
  test("fallbacks must name other models", () =>
    assertConfigError(
      deployed("    upstream: a\n    fallbacks: [ghost]\n"),
      /fallbacks\.0: no other model with id "ghost"/,
    ));
  test("a model with deployments is served by its balancer", () => {
    const { load } = loadText(
      deployed("    deployments:\n      - { upstream: a, weight: 3 }\n    fallbacks: [claude-haiku-4-5]\n"),
    );
    const config = load();
    const resolved = new ModelRouter(config).resolve("m");
    assert.equal(resolved?.upstream, "deployments:m");
    assert.equal(config.routing.strategy, "capacity");
  });
  test("a wrong type names the path inside the file", () =>
    assertConfigError("server:\n  port: high\n", /: server\.port: /));
  test("a trusted proxy is an address, a CIDR range or a named kind of range", () => {
    for (const bad of ["10.0.0.0/33", "10.0.0.0/8/1", "example.com", "fe80::/129"])
      assertConfigError(
        `server:\n  trusted_proxies: ["${bad}"]\n`,
        /server\.trusted_proxies\.0: an IP address or CIDR range/,
      );
    const { load } = loadText('server:\n  trusted_proxies: ["10.0.0.0/8", "::1", "fd00::/8", loopback]\n');
    assert.equal(load().server.trusted_proxies.length, 4);
  });
  test("an unknown key is refused", () =>
    assertConfigError("server:\n  prot: 1\n", /server: Unrecognized key: "prot"/));
  test("a YAML syntax error gives line and column", () => assertConfigError("server: [\n", /:\d+:\d+: /));
  test("an unknown upstream type is refused", () =>
    assertConfigError("upstreams:\n  x:\n    type: grpc\n", /upstreams\.x\.type: /));
  test("a model on an upstream that does not exist is refused", () =>
    assertConfigError(
      "models:\n  - id: m\n    display_name: M\n    created_at: 2026-01-01T00:00:00Z\n    family: f\n    upstream: nowhere\n",
      /models\.\d+\.upstream: no upstream named "nowhere"/,
    ));
  test("a route to a model that does not exist is refused", () =>
    assertConfigError(
      "routes:\n  - match: 'x-*'\n    model: ghost\n",
      /routes\.0\.model: no model with id "ghost"/,
    ));
  test("a simulated model without a simulation profile is refused", () =>
    assertConfigError(
      "models:\n  - id: m\n    display_name: M\n    created_at: 2026-01-01T00:00:00Z\n    family: f\n    upstream: simulated\n",
      /simulation: required/,
    ));
  test("a missing file is reported as such", () => {
    assert.throws(
      () => loadConfig({ file: join(dir, "absent.yaml"), env: {} }),
      /absent\.yaml: cannot read: ENOENT/,
    );
  });

  test("--upstream sends every model, known or not, to that Anthropic-compatible URL", () => {
    const config = loadConfig({
      env: { HEADROOM_UPSTREAM_KEY: "k" },
      overrides: { upstreamUrl: "http://127.0.0.1:9999" },
    });
    const router = new ModelRouter(config);
    assert.equal(router.resolve("claude-opus-4-8")?.upstream, "override");
    assert.equal(router.resolve("anything-at-all")?.upstream, "override");
    assert.deepEqual(config.upstreams.override, {
      type: "anthropic",
      url: "http://127.0.0.1:9999",
      api_key_env: "HEADROOM_UPSTREAM_KEY",
      timeout_ms: 600_000,
      connect_timeout_ms: 10_000,
      first_byte_timeout_ms: 120_000,
      idle_timeout_ms: 120_000,
    });
  });

  test("model routing: exact ids, then aliases, then globs in order; no match is undefined", () => {
    const router = new ModelRouter(loadConfig({ env: {} }));
    assert.equal(router.resolve("claude-opus-4-8")?.entry.id, "claude-opus-4-8");
    assert.equal(router.resolve("claude-opus-4-8-20261001")?.entry.id, "claude-opus-4-8");
    assert.equal(router.resolve("claude-sonnet-7")?.entry.family, "sonnet");
    assert.equal(router.resolve("sonnet")?.entry.family, "sonnet");
    assert.equal(router.resolve("claude-opus-4-8")?.requested, "claude-opus-4-8");
    assert.equal(router.resolve("gemini-3"), undefined);
    assert.equal(router.resolve("xclaude-opus-4"), undefined, "globs are anchored");
  });
});

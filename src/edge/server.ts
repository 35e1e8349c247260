/**
 * The HTTP edge: a Fastify app with headroom's routes, request ids on every response, JSON
 * parsing under our control, and one error handler that answers in each endpoint's envelope.
 */
import { createServer, STATUS_CODES } from "node:http";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from "fastify";
import { asHeadroomError, HeadroomError, invalidRequest, notFound } from "../common/errors.ts";
import { newRequestId } from "../common/ids.ts";
import { WORKER_PARSE_BYTES } from "../protocol/tokens/count-pool.ts";
import { parseJsonBody } from "../protocol/validate.ts";
import { ADMIN_PREFIX, type AdminServices, registerAdminApi } from "./admin/admin-api.ts";
import { registerCustomerAuth } from "./auth.ts";
import { BadKeyThrottle } from "./bad-key-throttle.ts";
import { registerChatRoutes } from "./chat-completions.ts";
import { registerDashboard } from "./dashboard.ts";
import { ERROR_CODE_HEADER, toAnthropicEnvelope, toOpenAIEnvelope } from "./envelopes.ts";
import { registerLimitsRoute } from "./limits-route.ts";
import { COUNT_TOKENS_PATH, PARSED_ON_WORKER, registerMessagesRoutes } from "./messages.ts";
import { registerMetricsRoute } from "./metrics-route.ts";
import { registerModelRoutes } from "./models.ts";
import { registerResponsesRoutes } from "./responses.ts";
import type { EdgeServices } from "./services.ts";

/** Query parameters that may carry a credential, whatever a client meant by sending it there. */
const SECRET_PARAM =
  /^(key|api[-_]?key|x-api-key|token|access[-_]?token|auth|authorization|password|secret)$/i;

/**
 * A URL for the log: query values that name or look like a credential are replaced, so a key a
 * client put in the URL never reaches the logs.
 */
export function redactedUrl(url: string): string {
  const query = url.indexOf("?");
  if (query < 0) return url;
  const parts = url
    .slice(query + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      const name = equals < 0 ? pair : pair.slice(0, equals);
      const value = equals < 0 ? "" : pair.slice(equals + 1);
      let decodedName = name;
      try {
        decodedName = decodeURIComponent(name);
      } catch {}
      const secret = SECRET_PARAM.test(decodedName) || /sk-|hr-admin-/i.test(value);
      return secret ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, query)}?${parts.join("&")}`;
}

/**
 * The operator's pages and API: no framing (clickjacking), no sniffing, no referrer, nothing
 * cached, scripts and styles from this origin only (uPlot sets inline styles, hence that one
 * allowance). No CORS headers are sent anywhere: browsers keep other origins out.
 */
const OPERATOR_HEADERS = {
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** What Node's HTTP parser reports, as a status and an error in our family. */
function clientFailure(code: string | undefined): [number, HeadroomError] {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return [431, new HeadroomError("headers_too_large", "Request headers are too large or too many.")];
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [408, new HeadroomError("request_timeout", "The request did not arrive in time.")];
    default:
      return [400, new HeadroomError("invalid_http", "The request is not valid HTTP.")];
  }
}

interface FastifyReplyLike {
  status(code: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload: unknown): unknown;
}

/** The admin API's version in its OpenAPI document. */
const HEADROOM_VERSION = "0.1.0";

/** OpenAI-shaped paths answer errors in OpenAI's envelope; everything else in Anthropic's. */
function isOpenAIPath(url: string): boolean {
  return /^\/v1\/(chat|completions|embeddings|responses)\b/.test(url);
}

/** Fastify's own errors (body parsing, limits) as HeadroomErrors. */
function fromFastifyError(error: FastifyError, limitMb: number): HeadroomError {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new HeadroomError("body_too_large", `Request body is larger than the ${limitMb} MB limit.`);
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new HeadroomError("empty_body", "The request body is empty; send a JSON object.");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new HeadroomError("unsupported_media_type", "Unsupported content-type; send application/json.");
    default:
      if (error.statusCode === 400) return invalidRequest(error.message);
      return asHeadroomError(error);
  }
}

declare module "fastify" {
  interface FastifyRequest {
    /** The JSON body's bytes as the client sent them, for upstreams that take them unchanged. */
    rawBody?: Buffer;
  }
}

export function buildServer(gateway: EdgeServices, admin: AdminServices): FastifyInstance {
  const { server: config } = gateway.config;
  const app = Fastify({
    loggerInstance: gateway.logger as FastifyBaseLogger,
    // One line per request (see onResponse) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "request_id" }),
    bodyLimit: Math.floor(config.body_limit_mb * 1024 * 1024),
    genReqId: () => newRequestId(),
    return503OnClosing: true,
    // Who the client is (the bad-key throttle's unit): behind trusted balancers, the address
    // they forward; otherwise the socket's peer, whatever X-Forwarded-For claims.
    trustProxy: config.trusted_proxies.length > 0 ? config.trusted_proxies : false,
    // A client must send its headers, and then its whole request, in bounded time; Node checks
    // every second (its default is every 30 s), so a slowloris socket is closed within seconds.
    serverFactory: (handler) =>
      createServer(
        {
          headersTimeout: config.headers_timeout_ms,
          requestTimeout: Math.max(config.request_timeout_ms, config.headers_timeout_ms + 1),
          connectionsCheckingInterval: 1_000,
        },
        handler,
      ),
    // Errors Node's parser meets before there is a request at all (headers too large or too
    // many, a request that took too long to arrive, bytes that are not HTTP) answer in
    // Anthropic's envelope with a request id; the connection is then closed.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === "ECONNRESET" || socket.destroyed) return;
      const [status, failure] = clientFailure(error.code);
      const requestId = newRequestId();
      const body = JSON.stringify(toAnthropicEnvelope(failure, requestId));
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\nrequest-id: ${requestId}\r\n${ERROR_CODE_HEADER}: ${failure.code}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy();
    },
    // Errors Fastify meets before routing (a URL that does not decode, `%ff%fe`) still answer
    // in the endpoint's envelope with a request id, like every other error.
    frameworkErrors: (error, request, reply) => {
      const failure = new HeadroomError("invalid_url", `The request URL is not valid: ${error.message}`);
      const envelope = isOpenAIPath(request.url)
        ? toOpenAIEnvelope(failure)
        : toAnthropicEnvelope(failure, request.id);
      // Fastify's typed reply is tied to route schemas this hook never has.
      (reply as unknown as FastifyReplyLike)
        .status(400)
        .header("request-id", request.id)
        .header(ERROR_CODE_HEADER, failure.code)
        .send(envelope);
    },
  });

  app.addContentTypeParser(["application/json", "*"], { parseAs: "buffer" }, (request, body, done) => {
    // Kept as bytes: a passthrough upstream gets them as they came, without encoding a large
    // prompt's text again (edge/exchange.ts).
    const bytes = body as Buffer;
    request.rawBody = bytes;
    if (bytes.length === 0) {
      done(new HeadroomError("empty_body", "The request body is empty; send a JSON object."));
      return;
    }
    // A large count_tokens body is parsed where it is counted, on the token counter's worker:
    // the loop other keys wait on never holds its parse (messages.ts).
    if (bytes.length >= WORKER_PARSE_BYTES && request.url.startsWith(COUNT_TOKENS_PATH)) {
      done(null, PARSED_ON_WORKER);
      return;
    }
    try {
      done(null, parseJsonBody(bytes.toString("utf8")));
    } catch (error) {
      done(error as Error);
    }
  });

  // Callback hooks, not async ones: no promise per request for work that never waits.
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("request-id", request.id);
    if (isOpenAIPath(request.url)) reply.header("x-request-id", request.id);
    else if (request.url.startsWith("/dashboard") || request.url.startsWith(ADMIN_PREFIX)) {
      reply.headers(OPERATOR_HEADERS);
    }
    done();
  });

  // The per-request line only where it would be printed.
  if (gateway.logger.isLevelEnabled("info")) {
    app.addHook("onResponse", (request, reply, done) => {
      request.log.info(
        {
          method: request.method,
          url: redactedUrl(request.url),
          status: reply.statusCode,
          error_code: reply.getHeader(ERROR_CODE_HEADER),
          ms: Math.round(reply.elapsedTime),
        },
        "request",
      );
      done();
    });
  }

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply) => {
    const failure = error instanceof HeadroomError ? error : fromFastifyError(error, config.body_limit_mb);
    if (failure.status >= 500 && !(error instanceof HeadroomError)) {
      request.log.error({ err: error }, "unhandled error");
    }
    reply.status(failure.status).headers(failure.headers).header(ERROR_CODE_HEADER, failure.code);
    return isOpenAIPath(request.url) ? toOpenAIEnvelope(failure) : toAnthropicEnvelope(failure, request.id);
  });

  app.setNotFoundHandler((request, reply) => {
    const failure = notFound(`No route for ${request.method} ${request.url.split("?")[0]}.`);
    reply.status(404).header(ERROR_CODE_HEADER, failure.code);
    return isOpenAIPath(request.url) ? toOpenAIEnvelope(failure) : toAnthropicEnvelope(failure, request.id);
  });

  registerCustomerAuth(
    app,
    gateway.identities,
    new BadKeyThrottle(config.bad_key_limit_per_minute, gateway.clock),
  );
  app.get("/healthz", async () => ({ status: "ok" }));
  registerMetricsRoute(app, gateway, admin.adminToken);
  registerMessagesRoutes(app, gateway);
  registerChatRoutes(app, gateway);
  registerResponsesRoutes(app, gateway);
  registerModelRoutes(app, gateway);
  registerLimitsRoute(app, gateway);
  registerAdminApi(app, admin, HEADROOM_VERSION);
  registerDashboard(app);
  return app;
}

/**
 * Admin routes described once: each route's zod schemas validate its input and answer and also
 * make the OpenAPI 3.1 document (`openApiDocument`), so the document cannot drift from what
 * the server accepts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { validateBody } from "../../protocol/validate.ts";

export interface AdminRoute {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Below the prefix, OpenAPI style: `/keys/{id}`. */
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  response: z.ZodType;
  /** The success status; 200 unless said. */
  status?: number;
  handler(input: { params: never; query: never; body: never }): Promise<unknown>;
}

/** A route with typed input: the handler sees exactly what the schemas accept. */
export function route<
  P extends z.ZodObject | undefined = undefined,
  Q extends z.ZodObject | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(definition: {
  method: AdminRoute["method"];
  path: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  response: z.ZodType;
  status?: number;
  handler(input: {
    params: P extends z.ZodObject ? z.infer<P> : undefined;
    query: Q extends z.ZodObject ? z.infer<Q> : undefined;
    body: B extends z.ZodType ? z.infer<B> : undefined;
  }): Promise<unknown>;
}): AdminRoute {
  return definition as unknown as AdminRoute;
}

const fastifyPath = (path: string) => path.replace(/\{(\w+)\}/g, ":$1");

export function registerAdminRoutes(
  app: FastifyInstance,
  prefix: string,
  routes: readonly AdminRoute[],
  authorize: (request: FastifyRequest) => void | Promise<void>,
): void {
  for (const definition of routes) {
    app.route({
      method: definition.method,
      url: prefix + fastifyPath(definition.path),
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        await authorize(request);
        const input = {
          params: definition.params ? validateBody(definition.params, request.params) : undefined,
          query: definition.query ? validateBody(definition.query, request.query) : undefined,
          body: definition.body ? validateBody(definition.body, request.body ?? {}) : undefined,
        };
        const result = await definition.handler(input as never);
        reply.status(definition.status ?? 200);
        return result;
      },
    });
  }
}

/** A schema as OpenAPI 3.1 (JSON Schema 2020-12) wants it inside a document. */
function schemaOf(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return rest;
}

function parameters(schema: z.ZodObject | undefined, where: "path" | "query") {
  if (!schema) return [];
  const json = schemaOf(schema, "input") as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === "path" || (json.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

const errorSchema = {
  type: "object",
  required: ["type", "error"],
  properties: {
    type: { const: "error" },
    error: {
      type: "object",
      required: ["type", "message"],
      properties: { type: { type: "string" }, message: { type: "string" } },
    },
    request_id: { type: "string" },
  },
};

export function openApiDocument(prefix: string, routes: readonly AdminRoute[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const definition of routes) {
    const errors = (codes: number[]) =>
      Object.fromEntries(
        codes.map((code) => [
          String(code),
          {
            description: {
              400: "Invalid input",
              401: "No or wrong admin token",
              403: "A customer key",
              404: "Not found",
            }[code],
            content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          },
        ]),
      );
    const operation: Record<string, unknown> = {
      operationId: `${definition.method.toLowerCase()}${definition.path.replace(/[{}]/g, "").replace(/\/(\w)/g, (_, c: string) => c.toUpperCase())}`,
      summary: definition.summary,
      tags: [definition.tag],
      parameters: [...parameters(definition.params, "path"), ...parameters(definition.query, "query")],
      responses: {
        [String(definition.status ?? 200)]: {
          description: definition.summary,
          content: { "application/json": { schema: schemaOf(definition.response, "output") } },
        },
        ...errors([400, 401, 403, 404]),
      },
    };
    if (definition.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: schemaOf(definition.body, "input") } },
      };
    }
    const path = prefix + definition.path;
    paths[path] = { ...paths[path], [definition.method.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "headroom admin API",
      version,
      description:
        "Operate a headroom gateway: organisations, teams, accounts and keys; dated policies; usage from the ledger; live state. Authenticate with the admin token as Authorization: Bearer.",
    },
    servers: [{ url: "/" }],
    security: [{ adminToken: [] }],
    paths,
    components: {
      securitySchemes: { adminToken: { type: "http", scheme: "bearer" } },
      schemas: { Error: errorSchema },
    },
  };
}

/** Validates a request body, turning the first schema problem into a 400 that names the field. */
import type { z } from "zod";
import { HeadroomError, invalidRequest } from "../common/errors.ts";

export function validateBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw invalidRequest("Invalid request body.");
  const path = issue.path.join(".");
  if (path === "")
    // A rule over the whole body (a refinement) says what it wants; anything else is a non-object.
    throw invalidRequest(issue.code === "custom" ? issue.message : "The request body must be a JSON object.");
  const missing = issue.code === "invalid_type" && issue.input === undefined;
  throw invalidRequest(`${path}: ${missing ? "Field required" : issue.message}`, path);
}

/** A body's JSON text as a value; text that is not JSON is the client's 400 (invalid_json). */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HeadroomError("invalid_json", `Malformed JSON in request body: ${(error as Error).message}`);
  }
}

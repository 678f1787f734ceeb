// The SignalOps TypeScript client: the API's types, generated from
// docs/openapi.json by openapi-typescript into ./schema.ts (never edit that
// file; run `task clients:generate`), and a typed fetch from openapi-fetch.
//
//   const api = createSignalOpsClient({ baseUrl: "http://localhost:3000", apiKey: "so_live_…" });
//   const { data, error, response } = await api.POST("/api/events", {
//     params: { header: { "idempotency-key": "order-A-1" } },
//     body: { type: "order.created", payload: { orderId: "A-1" } },
//   });
//
// Every call resolves to {data} on a 2xx and {error} (a problem+json body)
// otherwise; network failures reject. Paths, parameters, bodies and answers
// are checked against the API's types at compile time.
import createClient, { type Client, type ClientOptions } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** An RFC 9457 problem: the body of every error answer. */
export type Problem = components["schemas"]["Problem"];
/** An event to ingest (`POST /api/events`). */
export type EventInput = components["schemas"]["EventInput"];
/** A stored event (`GET /api/events/{id}`). */
export type Event = components["schemas"]["Event"];
/** The answer to an ingested event: its id. */
export type Accepted = components["schemas"]["Accepted"];

/** The typed client: GET, POST, PUT, PATCH, DELETE on the API's paths. */
export type SignalOpsClient = Client<paths>;

export interface SignalOpsClientOptions extends ClientOptions {
  /** Where `serve` listens, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** A producer API key (`so_live_…`), sent as `x-api-key`. */
  apiKey?: string;
  /** A management JWT from `POST /api/auth/login`, or the operator's ADMIN_TOKEN, sent as a bearer token. */
  token?: string;
}

/** HeaderReplayed is set to "true" on the 200 answer to a repeated idempotency key. */
export const HeaderReplayed = "Idempotent-Replayed";

/** createSignalOpsClient returns a typed client that authenticates every request with the given key or token. */
export function createSignalOpsClient(options: SignalOpsClientOptions): SignalOpsClient {
  const { apiKey, token, headers, ...rest } = options;
  const auth: Record<string, string> = {};
  if (apiKey !== undefined) {
    auth["x-api-key"] = apiKey;
  }
  if (token !== undefined) {
    auth["authorization"] = `Bearer ${token}`;
  }
  const merged = new Headers(headers as HeadersInit | undefined);
  for (const [name, value] of Object.entries(auth)) {
    merged.set(name, value);
  }
  return createClient<paths>({ ...rest, headers: Object.fromEntries(merged.entries()) });
}

/** isProblem tells a problem+json body from anything else an error answer might carry. */
export function isProblem(body: unknown): body is Problem {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as Problem).code === "string" &&
    typeof (body as Problem).status === "number"
  );
}

// Example: ingest one event with an idempotency key, send it again (the
// server answers 200 with the original id), and read the stored event back.
//
//   SIGNALOPS_URL=http://localhost:3000 SIGNALOPS_API_KEY=so_live_… npm run example
//
// It exits non-zero when an answer is not what the API promises.
import { randomUUID } from "node:crypto";

import { createSignalOpsClient, HeaderReplayed, type EventInput } from "../src/index.js";

const baseUrl = process.env.SIGNALOPS_URL ?? "http://localhost:3000";
const apiKey = process.env.SIGNALOPS_API_KEY;
if (!apiKey) {
  console.error("set SIGNALOPS_API_KEY to a key with scopes events:write and events:read");
  process.exit(2);
}

const api = createSignalOpsClient({ baseUrl, apiKey });
const idempotencyKey = process.env.IDEMPOTENCY_KEY ?? `example-${randomUUID()}`;
const event: EventInput = {
  type: "order.created",
  source: "typescript-example",
  payload: { orderId: "A-1", amount: 1250, currency: "EUR" },
};

const first = await api.POST("/api/events", {
  params: { header: { "idempotency-key": idempotencyKey } },
  body: event,
});
if (first.error) {
  throw new Error(`ingest: ${first.response.status} ${first.error.code}: ${first.error.detail}`);
}
console.log(`ingested ${first.data.id} (${first.response.status}, idempotency-key ${idempotencyKey})`);

// A retry with the same key and body is answered from the first request.
const again = await api.POST("/api/events", {
  params: { header: { "idempotency-key": idempotencyKey } },
  body: event,
});
if (again.error) {
  throw new Error(`retry: ${again.response.status} ${again.error.code}: ${again.error.detail}`);
}
if (again.response.status !== 200 || again.response.headers.get(HeaderReplayed) !== "true" || again.data.id !== first.data.id) {
  throw new Error(`retry was not a replay of ${first.data.id}: ${again.response.status} ${again.data.id}`);
}
console.log(`retry replayed ${again.data.id} (${HeaderReplayed}: true)`);

const stored = await api.GET("/api/events/{id}", { params: { path: { id: first.data.id } } });
if (stored.error) {
  throw new Error(`read back: ${stored.response.status} ${stored.error.code}: ${stored.error.detail}`);
}
if (stored.data.type !== event.type || stored.data.payload["orderId"] !== "A-1") {
  throw new Error(`read back a different event: ${JSON.stringify(stored.data)}`);
}
console.log(`read back ${stored.data.type} from ${stored.data.source}: status ${stored.data.status}, payload ${JSON.stringify(stored.data.payload)}`);

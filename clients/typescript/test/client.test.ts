// Tests of the client against a running `serve` (clients/e2e.sh starts one
// on a fresh database and sets the variables below):
//
//   SIGNALOPS_URL, SIGNALOPS_API_KEY (scopes events:write, events:read),
//   SIGNALOPS_EMAIL, SIGNALOPS_PASSWORD (the key's tenant's owner)
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";

import { createSignalOpsClient, HeaderReplayed, isProblem, type EventInput } from "../src/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run clients/e2e.sh, which starts a server and sets it`);
  }
  return value;
}

const baseUrl = env("SIGNALOPS_URL");
const producer = createSignalOpsClient({ baseUrl, apiKey: env("SIGNALOPS_API_KEY") });

function newEvent(): EventInput {
  return { type: "order.created", source: "ts-test", payload: { orderId: randomUUID(), amount: 42 } };
}

describe("events", () => {
  it("ingests once per idempotency key and reads the event back", async () => {
    const key = `ts-test-${randomUUID()}`;
    const event = newEvent();

    const first = await producer.POST("/api/events", { params: { header: { "idempotency-key": key } }, body: event });
    assert.equal(first.response.status, 202, JSON.stringify(first.error));
    assert.ok(first.data);
    assert.equal(first.data.status, "accepted");
    assert.equal(first.response.headers.get(HeaderReplayed), null);

    const again = await producer.POST("/api/events", { params: { header: { "idempotency-key": key } }, body: event });
    assert.equal(again.response.status, 200, JSON.stringify(again.error));
    assert.equal(again.response.headers.get(HeaderReplayed), "true");
    assert.equal(again.data?.id, first.data.id);

    const stored = await producer.GET("/api/events/{id}", { params: { path: { id: first.data.id } } });
    assert.equal(stored.response.status, 200, JSON.stringify(stored.error));
    assert.equal(stored.data?.id, first.data.id);
    assert.equal(stored.data?.type, event.type);
    assert.equal(stored.data?.source, event.source);
    assert.deepEqual(stored.data?.payload, event.payload);

    const listed = await producer.GET("/api/events", { params: { query: { type: event.type, limit: 100 } } });
    assert.equal(listed.response.status, 200, JSON.stringify(listed.error));
    assert.ok(listed.data?.data.some((e) => e.id === first.data.id), "the event is listed");
  });

  it("answers a reused key with another body with a typed problem", async () => {
    const key = `ts-test-${randomUUID()}`;
    const first = await producer.POST("/api/events", { params: { header: { "idempotency-key": key } }, body: newEvent() });
    assert.equal(first.response.status, 202, JSON.stringify(first.error));

    const reused = await producer.POST("/api/events", { params: { header: { "idempotency-key": key } }, body: newEvent() });
    assert.equal(reused.response.status, 422);
    assert.equal(reused.data, undefined);
    assert.ok(isProblem(reused.error));
    assert.equal(reused.error.code, "idempotency_key_reused");
    assert.equal(reused.response.headers.get("content-type"), "application/problem+json");
  });

  it("names the invalid field", async () => {
    const bad = await producer.POST("/api/events", { body: { type: "no spaces allowed", payload: {} } });
    assert.equal(bad.response.status, 422);
    assert.ok(isProblem(bad.error));
    assert.equal(bad.error.code, "validation_failed");
    assert.ok(bad.error.errors?.some((e) => e.field === "type"), JSON.stringify(bad.error));
  });

  it("refuses an unknown API key with 401", async () => {
    const stranger = createSignalOpsClient({ baseUrl, apiKey: `so_live_${"x".repeat(43)}` });
    const res = await stranger.POST("/api/events", { body: newEvent() });
    assert.equal(res.response.status, 401);
    assert.ok(isProblem(res.error));
    assert.equal(res.error.status, 401);
  });
});

describe("management", () => {
  it("logs in and reads with the bearer token", async () => {
    const anonymous = createSignalOpsClient({ baseUrl });
    const login = await anonymous.POST("/api/auth/login", {
      body: { email: env("SIGNALOPS_EMAIL"), password: env("SIGNALOPS_PASSWORD") },
    });
    assert.equal(login.response.status, 200, JSON.stringify(login.error));
    assert.ok(login.data);

    const manager = createSignalOpsClient({ baseUrl, token: login.data.accessToken });
    const me = await manager.GET("/api/me");
    assert.equal(me.response.status, 200, JSON.stringify(me.error));
    assert.equal(me.data?.user.email, env("SIGNALOPS_EMAIL"));

    const ingested = await producer.POST("/api/events", { body: newEvent() });
    assert.equal(ingested.response.status, 202, JSON.stringify(ingested.error));
    assert.ok(ingested.data);
    const stored = await manager.GET("/api/events/{id}", { params: { path: { id: ingested.data.id } } });
    assert.equal(stored.response.status, 200, JSON.stringify(stored.error));
    assert.equal(stored.data?.id, ingested.data.id);
  });
});

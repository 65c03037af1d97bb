import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RrpcClient } from '@rrpc/client';
import { connectDevice, type RrpcDevice } from '@rrpc/device-sdk';
import { waitFor } from '@rrpc/testing';
import { OtlpReceiver, formatSpanTree, type CollectedSpan } from '@rrpc/tracing';
import { startDevice, type TestDevice } from './support/device.js';
import { API_KEY, startCluster } from './support/cluster.js';
import { b64, startReceiver, startWorkerCluster, type WorkerCluster } from './support/worker-cluster.js';

/**
 * W3C trace context to the device and OpenTelemetry spans (docs/tracing.md): real Redis and Mosquitto, the
 * api, ingest and worker in this process exporting OTLP/HTTP to a receiver here, and an MQTT 5 device (the SDK).
 */
const PK = 'a1Trace';
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const traceparentOf = (traceId: string, spanId: string, flags = '01') => `00-${traceId}-${spanId}-${flags}`;

interface Heard {
  messageId: string;
  traceparent: string | undefined;
  tracestate: string | undefined;
  payload: string;
}

let receiver: OtlpReceiver;
let cluster: WorkerCluster;
let device: RrpcDevice;
let device311: TestDevice;
let ownSpans: RrpcDevice;
let answers: MqttClient;
const heard: Heard[] = [];
/** User properties of the devices' answers, by message ID (heard by a listener on the response topics). */
const answerProperties = new Map<string, Record<string, string | string[]>>();

beforeAll(async () => {
  receiver = new OtlpReceiver();
  const endpoint = await receiver.start();
  cluster = await startWorkerCluster({
    protocolVersion: 5,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', RRPC_CALLBACK_ALLOWED_HOSTS: '127.0.0.1' },
  });
  device = await connectDevice({
    url: cluster.mosquitto.url,
    productKey: PK,
    deviceName: 'tracer-1',
    protocolVersion: 5,
    reconnectPeriodMs: 0,
  });
  await device.onRrpc((payload, ctx) => {
    heard.push({ messageId: ctx.messageId, traceparent: ctx.traceparent, tracestate: ctx.tracestate, payload: payload.toString() });
    return payload;
  });
  device311 = await startDevice(cluster.mosquitto.url, PK, 'old-1', ({ payload }) => payload);
  // A device that traces its own work: it answers with its own span as the traceparent.
  ownSpans = await connectDevice({
    url: cluster.mosquitto.url,
    productKey: PK,
    deviceName: 'tracer-2',
    protocolVersion: 5,
    reconnectPeriodMs: 0,
  });
  await ownSpans.onRrpc((payload, ctx) => {
    if (ctx.traceparent !== undefined) ctx.traceparent = `${ctx.traceparent.slice(0, 36)}${payload.toString()}-01`;
    return payload;
  });
  answers = await mqtt.connectAsync(cluster.mosquitto.url, { clientId: `answers-${process.pid}`, protocolVersion: 5 });
  await answers.subscribeAsync(`/sys/${PK}/+/rrpc/response/+`, { qos: 0 });
  answers.on('message', (topic, _payload, packet) => {
    const props = packet.properties?.userProperties;
    if (props) answerProperties.set(topic.split('/').at(-1) ?? '', props);
  });
  await cluster.connectDevice(PK, 'tracer-1');
  await cluster.connectDevice(PK, 'tracer-2');
  await cluster.connectDevice(PK, 'old-1');
}, 60_000);

afterAll(async () => {
  await device?.disconnect();
  await ownSpans?.disconnect();
  await answers?.endAsync();
  await device311?.close();
  await cluster?.stop();
  await receiver?.stop();
});

async function call(deviceName: string, headers: Record<string, string>, text = 'ping') {
  const res = await cluster.api(`/v1/devices/${PK}/${deviceName}/rrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ payload: b64(text), timeoutMs: 5000 }),
  });
  return { status: res.status, body: (await res.json()) as { messageId?: string; payload?: string } };
}

/** Spans of the trace once `count` of them arrived (the services export in batches every few seconds). */
async function spansOf(traceId: string, count: number): Promise<CollectedSpan[]> {
  await waitFor(() => receiver.trace(traceId).length >= count, 20_000, `${count} spans of trace ${traceId}`);
  const spans = receiver.trace(traceId);
  if (process.env['PRINT_TRACE_TREES']) console.log(formatSpanTree(spans)); // for docs/tracing.md
  return spans;
}

function one(spans: CollectedSpan[], service: string, kind: number, name?: string): CollectedSpan {
  const found = spans.filter((s) => s.service === service && s.kind === kind && (name === undefined || s.name === name));
  expect(found, `${service} kind ${kind} ${name ?? ''} in\n${formatSpanTree(spans)}`).toHaveLength(1);
  return found[0] as CollectedSpan;
}

describe('a synchronous call with a traceparent', () => {
  it('carries the trace to the device and back: api, publish and ingest spans share it with the right parents', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const { status, body } = await call('tracer-1', { traceparent: traceparentOf(traceId, callerSpan), tracestate: 'vendor=abc,other=1' });
    expect(status).toBe(200);
    const messageId = body.messageId as string;

    // The device got our publish span as the parent, in the caller's trace, with the caller's tracestate.
    const got = heard.find((h) => h.messageId === messageId);
    expect(got?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(got?.traceparent?.slice(36, 52)).not.toBe(callerSpan);
    expect(got?.tracestate).toBe('vendor=abc,other=1');

    const spans = await spansOf(traceId, 3);
    const server = one(spans, 'rrpc-api', SERVER);
    const publish = one(spans, 'rrpc-api', PRODUCER);
    const processed = one(spans, 'rrpc-response-ingest', CONSUMER);
    expect(server.parentSpanId).toBe(callerSpan);
    expect(server.name).toBe('POST /v1/devices/:productKey/:deviceName/rrpc');
    expect(server.attributes['http.response.status_code']).toBe(200);
    expect(publish.parentSpanId).toBe(server.spanId);
    expect(got?.traceparent?.slice(36, 52)).toBe(publish.spanId);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'mqtt',
      'messaging.destination.name': `/sys/${PK}/tracer-1/rrpc/request/${messageId}`,
      'messaging.message.id': messageId,
      'messaging.client_id': 'rrpc-api-0',
    });
    // Linked through the pending record (call-begin stored the publish span, call-claim returned it).
    expect(processed.parentSpanId).toBe(publish.spanId);
    expect(processed.attributes).toMatchObject({
      'messaging.system': 'mqtt',
      'messaging.destination.name': `/sys/${PK}/tracer-1/rrpc/response/${messageId}`,
      'messaging.message.id': messageId,
      'messaging.client_id': 'rrpc-ingest-0',
      'rrpc.claim': 'matched',
    });
    expect(processed.startNs).toBeGreaterThanOrEqual(publish.startNs);
    expect(processed.endNs).toBeGreaterThan(processed.startNs); // from the answer's arrival to the claim's end
    expect(server.endNs).toBeGreaterThanOrEqual(processed.startNs);
    // The SDK sent the trace context back on the answer; it named our span, so it is no link.
    expect(answerProperties.get(messageId)).toEqual({ traceparent: got?.traceparent, tracestate: 'vendor=abc,other=1' });
    expect(processed.links).toEqual([]);
  });

  it("links the ingest span to the device's own span when the device answers with one", async () => {
    const traceId = hex(16);
    const deviceSpan = hex(8);
    const { status, body } = await call('tracer-2', { traceparent: traceparentOf(traceId, hex(8)) }, deviceSpan);
    expect(status).toBe(200);
    expect(answerProperties.get(body.messageId as string)?.['traceparent']).toBe(traceparentOf(traceId, deviceSpan));
    const spans = await spansOf(traceId, 3);
    const processed = one(spans, 'rrpc-response-ingest', CONSUMER);
    expect(processed.parentSpanId).toBe(one(spans, 'rrpc-api', PRODUCER).spanId); // still through the pending record
    expect(processed.links).toEqual([{ traceId, spanId: deviceSpan }]);
  });

  it('ignores a malformed traceparent: 200, and a new trace starts', async () => {
    const started: string[] = [];
    for (const bad of [
      'garbage',
      traceparentOf('0'.repeat(32), hex(8)),
      traceparentOf(hex(16).toUpperCase(), hex(8)),
      `ff-${hex(16)}-${hex(8)}-01`,
      `${traceparentOf(hex(16), hex(8))}-extra`,
    ]) {
      const { status, body } = await call('tracer-1', { traceparent: bad, tracestate: 'vendor=abc' });
      expect(status).toBe(200);
      const got = heard.find((h) => h.messageId === body.messageId);
      expect(got?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(got?.tracestate).toBeUndefined(); // a tracestate without a valid traceparent is dropped too
      const traceId = got?.traceparent?.slice(3, 35) as string;
      expect(bad.includes(traceId)).toBe(false);
      started.push(traceId);
    }
    for (const traceId of started) expect(one(await spansOf(traceId, 3), 'rrpc-api', SERVER).parentSpanId).toBeUndefined();
  });

  it('continues the trace on the express route too (Idempotency-Key), and ignores a malformed one there', async () => {
    const traceId = hex(16);
    const keyed = await call('tracer-1', { traceparent: traceparentOf(traceId, hex(8)), 'idempotency-key': `trace-${hex(4)}` });
    expect(keyed.status).toBe(200);
    expect(heard.find((h) => h.messageId === keyed.body.messageId)?.traceparent?.slice(3, 35)).toBe(traceId);
    const spans = await spansOf(traceId, 3);
    expect(one(spans, 'rrpc-api', PRODUCER).parentSpanId).toBe(
      one(spans, 'rrpc-api', SERVER, 'POST /v1/devices/:productKey/:deviceName/rrpc').spanId,
    );
    const bad = await call('tracer-1', { traceparent: '00-xyz', 'idempotency-key': `trace-${hex(4)}` });
    expect(bad.status).toBe(200);
    expect(heard.find((h) => h.messageId === bad.body.messageId)?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("@rrpc/client sends the caller's trace context", async () => {
    const traceId = hex(16);
    const client = new RrpcClient({ baseUrl: cluster.apis[0]?.url as string, apiKey: API_KEY });
    const result = await client.call({
      productKey: PK,
      deviceName: 'tracer-1',
      payload: 'from the client',
      timeoutMs: 5000,
      traceparent: traceparentOf(traceId, hex(8)),
      tracestate: 'app=1',
    });
    const got = heard.find((h) => h.messageId === result.messageId);
    expect(got?.traceparent?.slice(3, 35)).toBe(traceId);
    expect(got?.tracestate).toBe('app=1');
  });

  it('sends no properties to an MQTT 3.1.1 device and leaves the payload as it was', async () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0x7b]);
    const res = await cluster.api(`/v1/devices/${PK}/old-1/rrpc?timeoutMs=5000`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', traceparent: traceparentOf(hex(16), hex(8)) },
      body: bytes,
    });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    expect(device311.requests.at(-1)?.payload.equals(bytes)).toBe(true);
  });

  it('continues the trace on the Alibaba compat route', async () => {
    const traceId = hex(16);
    const res = await cluster.api('/compat/aliyun', {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: traceparentOf(traceId, hex(8)) },
      body: JSON.stringify({ Action: 'RRpc', ProductKey: PK, DeviceName: 'tracer-1', RequestBase64Byte: b64('compat'), Timeout: 3000 }),
    });
    expect(res.status).toBe(200);
    const spans = await spansOf(traceId, 3);
    const server = one(spans, 'rrpc-api', SERVER);
    expect(server.name).toBe('POST /compat/aliyun');
    expect(one(spans, 'rrpc-api', PRODUCER).parentSpanId).toBe(server.spanId);
  });

  it('gives the call metrics an exemplar with the trace id (OpenMetrics)', async () => {
    const traceId = hex(16);
    expect((await call('tracer-1', { traceparent: traceparentOf(traceId, hex(8)) })).status).toBe(200);
    const res = await fetch(`${cluster.apis[0]?.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('application/openmetrics-text');
    const text = await res.text();
    expect(text).toMatch(
      new RegExp(`rrpc_calls_total\\{[^}]*outcome="success"[^}]*\\} \\d+ # \\{trace_id="${traceId}",span_id="[0-9a-f]{16}"\\}`),
    );
  });
});

describe('a job and its callback with a traceparent', () => {
  it("the worker continues the creator's trace: job span under the POST, its publish and the ingest under it, the callback carries it", async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const hook = await startReceiver(() => 200);
    try {
      const created = await cluster.json<{ id: string }>(`/v1/devices/${PK}/tracer-1/rrpc/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: traceparentOf(traceId, callerSpan) },
        body: JSON.stringify({ payload: b64('job'), ttlMs: 60_000, callbackUrl: hook.url }),
      });
      expect(created.status).toBe(202);
      await waitFor(() => hook.received.length > 0, 20_000, 'callback delivered');

      const spans = await spansOf(traceId, 5);
      const post = one(spans, 'rrpc-api', SERVER);
      expect(post.parentSpanId).toBe(callerSpan);
      expect(post.name).toBe('POST /v1/devices/:productKey/:deviceName/rrpc/jobs');
      const job = one(spans, 'rrpc-worker', CONSUMER, 'rrpc job');
      expect(job.parentSpanId).toBe(post.spanId);
      expect(job.attributes['rrpc.job.id']).toBe(created.body.id);
      const publish = one(spans, 'rrpc-worker', PRODUCER);
      expect(publish.parentSpanId).toBe(job.spanId);
      expect(one(spans, 'rrpc-response-ingest', CONSUMER).parentSpanId).toBe(publish.spanId);
      const callback = one(spans, 'rrpc-worker', CLIENT);
      expect(callback.parentSpanId).toBe(post.spanId);
      expect(callback.attributes['http.response.status_code']).toBe(200);
      expect(hook.received[0]?.traceparent).toBe(traceparentOf(traceId, callback.spanId));
      const got = heard.find((h) => h.payload === 'job');
      expect(got?.traceparent).toBe(traceparentOf(traceId, publish.spanId));
    } finally {
      await hook.close();
    }
  });

  it("a batch: the batch span under the POST, each item's publish under the batch span", async () => {
    const traceId = hex(16);
    const created = await cluster.json<{ id: string }>('/v1/rrpc/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: traceparentOf(traceId, hex(8)) },
      body: JSON.stringify({ devices: [{ productKey: PK, deviceName: 'tracer-1' }], payload: b64('batch'), timeoutMs: 5000 }),
    });
    expect(created.status).toBe(202);
    const spans = await spansOf(traceId, 4);
    const post = one(spans, 'rrpc-api', SERVER);
    const batch = one(spans, 'rrpc-worker', CONSUMER, 'rrpc batch');
    expect(batch.parentSpanId).toBe(post.spanId);
    const publish = one(spans, 'rrpc-worker', PRODUCER);
    expect(publish.parentSpanId).toBe(batch.spanId);
    expect(one(spans, 'rrpc-response-ingest', CONSUMER).parentSpanId).toBe(publish.spanId);
  });
});

describe('tracing off', () => {
  it("with OTEL_SDK_DISABLED nothing is exported, and the caller's traceparent reaches the device unchanged", async () => {
    const quiet = new OtlpReceiver();
    const endpoint = await quiet.start();
    const off = await startCluster({ protocolVersion: 5, env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SDK_DISABLED: 'true' } });
    const seen: Heard[] = [];
    const dev = await connectDevice({
      url: off.mosquitto.url,
      productKey: PK,
      deviceName: 'quiet-1',
      protocolVersion: 5,
      reconnectPeriodMs: 0,
    });
    try {
      await dev.onRrpc((payload, ctx) => {
        seen.push({ messageId: ctx.messageId, traceparent: ctx.traceparent, tracestate: ctx.tracestate, payload: payload.toString() });
        return payload;
      });
      await off.connectDevice(PK, 'quiet-1');
      const sent = traceparentOf(hex(16), hex(8));
      const res = await off.call(PK, 'quiet-1', { payload: b64('x'), timeoutMs: 5000 });
      expect(res.status).toBe(200);
      expect(seen.at(-1)?.traceparent).toBeUndefined();
      const traced = await off.api(`/v1/devices/${PK}/quiet-1/rrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: sent, tracestate: 'v=1' },
        body: JSON.stringify({ payload: b64('y'), timeoutMs: 5000 }),
      });
      expect(traced.status).toBe(200);
      expect(seen.at(-1)).toMatchObject({ traceparent: sent, tracestate: 'v=1' });
      const metrics = await fetch(`${off.apis[0]?.url}/metrics`);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
    } finally {
      await dev.disconnect();
      await off.stop(); // stopping flushes any spans there were
      await quiet.stop();
    }
    expect(quiet.exports).toHaveLength(0);
  });
});

describe('sampling 0', () => {
  it("exports nothing, yet the device gets a traceparent in the caller's trace, marked unsampled", async () => {
    const quiet = new OtlpReceiver();
    const endpoint = await quiet.start();
    const off = await startCluster({
      protocolVersion: 5,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' },
    });
    const seen: Heard[] = [];
    const dev = await connectDevice({
      url: off.mosquitto.url,
      productKey: PK,
      deviceName: 'unsampled-1',
      protocolVersion: 5,
      reconnectPeriodMs: 0,
    });
    const traceId = hex(16);
    try {
      await dev.onRrpc((payload, ctx) => {
        seen.push({ messageId: ctx.messageId, traceparent: ctx.traceparent, tracestate: ctx.tracestate, payload: payload.toString() });
        return payload;
      });
      await off.connectDevice(PK, 'unsampled-1');
      const res = await off.api(`/v1/devices/${PK}/unsampled-1/rrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: traceparentOf(traceId, hex(8)) },
        body: JSON.stringify({ payload: b64('z'), timeoutMs: 5000 }),
      });
      expect(res.status).toBe(200);
      expect(seen.at(-1)?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    } finally {
      await dev.disconnect();
      await off.stop();
      await quiet.stop();
    }
    expect(quiet.exports).toHaveLength(0);
  });
});

describe('http/protobuf', () => {
  it('exports the spans as OTLP protobuf', async () => {
    const proto = new OtlpReceiver();
    const endpoint = await proto.start();
    const on = await startCluster({
      protocolVersion: 5,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
    });
    const traceId = hex(16);
    try {
      await on.connectDevice(PK, 'offline-9'); // presence only: no device answers, the call times out
      const res = await on.api(`/v1/devices/${PK}/offline-9/rrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: traceparentOf(traceId, hex(8)) },
        body: JSON.stringify({ payload: b64('x'), timeoutMs: 1000 }),
      });
      expect(res.status).toBe(504);
    } finally {
      await on.stop();
    }
    await proto.stop();
    const bodies = proto.exports.filter((e) => e.contentType === 'application/x-protobuf');
    expect(bodies.length).toBeGreaterThan(0);
    // The trace id travels as its 16 raw bytes in the protobuf body.
    expect(bodies.some((e) => e.body.includes(Buffer.from(traceId, 'hex')))).toBe(true);
  });
});

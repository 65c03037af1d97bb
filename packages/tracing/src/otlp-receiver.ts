/**
 * A tiny OTLP/HTTP trace receiver: `POST /v1/traces`. JSON bodies (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)
 * are decoded into spans; protobuf bodies are kept as bytes (counted, not decoded). `npm start --trace`
 * prints each finished trace with it as a tree; the tests collect spans with it; the bench uses it as a sink.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CollectedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, string | number | boolean>;
  links: Array<{ traceId: string; spanId: string }>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: number;
}

export interface ReceivedExport {
  contentType: string;
  body: Buffer;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpValue;
}
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: OtlpKeyValue[];
  links?: Array<{ traceId?: string; spanId?: string }>;
  status?: { code?: number };
}
interface OtlpExport {
  resourceSpans?: Array<{ resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
}

const MAX_BODY = 8 * 1024 * 1024;

function valueOf(v: OtlpValue | undefined): string | number | boolean {
  if (v === undefined) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return '';
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) out[kv.key] = valueOf(kv.value);
  return out;
}

/** The spans of one OTLP/JSON export request. */
export function spansOfExport(body: OtlpExport): CollectedSpan[] {
  const spans: CollectedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          service,
          traceId: s.traceId ?? '',
          spanId: s.spanId ?? '',
          parentSpanId: s.parentSpanId ? s.parentSpanId : undefined,
          name: s.name ?? '',
          kind: s.kind ?? 0,
          startNs: BigInt(s.startTimeUnixNano ?? 0),
          endNs: BigInt(s.endTimeUnixNano ?? 0),
          attributes: attributesOf(s.attributes),
          links: (s.links ?? []).map((l) => ({ traceId: l.traceId ?? '', spanId: l.spanId ?? '' })),
          status: s.status?.code ?? 0,
        });
      }
    }
  }
  return spans;
}

export class OtlpReceiver {
  readonly spans: CollectedSpan[] = [];
  readonly exports: ReceivedExport[] = [];
  /** Export requests and bytes received (also with keep: false). */
  readonly received = { requests: 0, bytes: 0 };
  private server: Server | undefined;
  private readonly listeners = new Set<(spans: CollectedSpan[]) => void>();
  /** keep: false only counts (a sink for the bench): nothing is decoded or held. */
  private readonly keep: boolean;

  constructor(options: { keep?: boolean } = {}) {
    this.keep = options.keep ?? true;
  }

  /** Listens on 127.0.0.1 (port 0: a free one); resolves with the base URL for OTEL_EXPORTER_OTLP_ENDPOINT. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY && this.keep) chunks.push(chunk);
      });
      req.on('end', () => {
        if (size > MAX_BODY) {
          res.writeHead(413).end();
          return;
        }
        this.received.requests++;
        this.received.bytes += size;
        const contentType = String(req.headers['content-type'] ?? '');
        if (!this.keep) {
          res
            .writeHead(200, { 'content-type': contentType.startsWith('application/json') ? 'application/json' : 'application/x-protobuf' })
            .end(contentType.startsWith('application/json') ? '{}' : undefined);
          return;
        }
        const body = Buffer.concat(chunks);
        this.exports.push({ contentType, body });
        if (contentType.startsWith('application/json')) {
          let spans: CollectedSpan[];
          try {
            spans = spansOfExport(JSON.parse(body.toString('utf8')) as OtlpExport);
          } catch {
            res.writeHead(400, { 'content-type': 'application/json' }).end('{"code":3,"message":"not OTLP/JSON"}');
            return;
          }
          this.spans.push(...spans);
          for (const listener of this.listeners) listener(spans);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          return;
        }
        // Protobuf: an empty ExportTraceServiceResponse.
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    return `http://${host}:${address.port}`;
  }

  /** Called with the spans of every JSON export. */
  onSpans(listener: (spans: CollectedSpan[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  trace(traceId: string): CollectedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const KIND = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

/**
 * One trace as an indented tree: service, span name, kind, start offset and duration in ms, and the
 * attributes named in `show`. Spans whose parent was not collected (the caller's own span) are roots.
 */
export function formatSpanTree(
  spans: readonly CollectedSpan[],
  show: readonly string[] = ['messaging.message.id', 'messaging.destination.name', 'http.response.status_code', 'rrpc.claim'],
): string {
  if (spans.length === 0) return '(no spans)';
  const byParent = new Map<string, CollectedSpan[]>();
  const ids = new Set(spans.map((s) => s.spanId));
  const roots: CollectedSpan[] = [];
  for (const s of spans) {
    if (s.parentSpanId === undefined || !ids.has(s.parentSpanId)) roots.push(s);
    else byParent.set(s.parentSpanId, [...(byParent.get(s.parentSpanId) ?? []), s]);
  }
  const t0 = spans.reduce((min, s) => (s.startNs < min ? s.startNs : min), spans[0]?.startNs ?? 0n);
  const ms = (ns: bigint) => (Number(ns) / 1e6).toFixed(2);
  const lines: string[] = [`trace ${spans[0]?.traceId}`];
  const walk = (s: CollectedSpan, depth: number) => {
    const attrs = show.filter((k) => s.attributes[k] !== undefined).map((k) => `${k}=${String(s.attributes[k])}`);
    const parent = depth === 0 && s.parentSpanId !== undefined ? ` (parent ${s.parentSpanId}, not collected)` : '';
    lines.push(
      `${'  '.repeat(depth + 1)}${s.service}: ${s.name} [${KIND[s.kind] ?? s.kind}] +${ms(s.startNs - t0)} ms, ${ms(s.endNs - s.startNs)} ms${s.status === 2 ? ' ERROR' : ''}${attrs.length ? '  ' + attrs.join(' ') : ''}${parent}`,
    );
    for (const child of (byParent.get(s.spanId) ?? []).sort((a, b) => (a.startNs < b.startNs ? -1 : 1))) walk(child, depth + 1);
  };
  for (const root of roots.sort((a, b) => (a.startNs < b.startNs ? -1 : 1))) walk(root, 0);
  return lines.join('\n');
}

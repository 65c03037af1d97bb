/**
 * A cluster with workers for the job and batch tests: startCluster() plus in-process workers
 * (createWorkerService) or worker processes (node services/worker/dist/main.js), a callback receiver and
 * device groups (one MQTT connection answering every device of a product through a wildcard subscription).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import mqtt, { type MqttClient } from 'mqtt';
import { loadWorkerConfig, type Env } from '@rrpc/config';
import { createLogger } from '@rrpc/runtime';
import { createWorkerService, type WorkerService, type WorkerServiceOptions } from '@rrpc/worker';
import { parseRequestTopic } from '@rrpc/topics';
import { startCluster, type ClusterOptions, type TestCluster } from './cluster.js';

export const CALLBACK_SECRET = 'test-callback-secret-0123456789';

export const WORKER_ENV: Env = {
  RRPC_CALLBACK_SECRET: CALLBACK_SECRET,
  RRPC_CALLBACK_BACKOFF_MS: '100',
  RRPC_CALLBACK_MAX_ATTEMPTS: '4',
  RRPC_WORKER_LOCK_MS: '2000',
  PORT: '0',
};

const logger = createLogger('test-worker', process.env['TEST_LOG_LEVEL'] ?? 'silent');

export interface WorkerCluster extends TestCluster {
  workers: WorkerService[];
  startWorker(env?: Env, options?: WorkerServiceOptions): Promise<WorkerService>;
  /** A worker as its own process; resolves once it answers /readyz. */
  spawnWorker(env?: Env): Promise<ChildProcess>;
  json<T = Record<string, unknown>>(
    path: string,
    init?: RequestInit & { pod?: number },
  ): Promise<{ status: number; body: T; headers: Headers }>;
}

export async function startWorkerCluster(options: ClusterOptions & { workers?: number } = {}): Promise<WorkerCluster> {
  const cluster = await startCluster(options);
  const workers: WorkerService[] = [];
  const children: ChildProcess[] = [];
  const baseEnv = { ...cluster.env, ...WORKER_ENV };
  const wc: WorkerCluster = {
    ...cluster,
    workers,
    async startWorker(env = {}, serviceOptions = {}) {
      const service = createWorkerService(
        loadWorkerConfig({ ...baseEnv, RRPC_INSTANCE_ID: `worker-${workers.length}`, ...env }),
        logger,
        serviceOptions,
      );
      await service.start();
      workers.push(service);
      return service;
    },
    async spawnWorker(env = {}) {
      const child = spawn(process.execPath, ['services/worker/dist/main.js'], {
        env: { ...process.env, ...baseEnv, LOG_LEVEL: 'info', RRPC_INSTANCE_ID: `worker-p${children.length}`, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let output = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (d: Buffer) => {
          output += d.toString();
          if (output.includes('"worker listening"')) resolve();
        });
        child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
        child.once('exit', (code) => reject(Object.assign(new Error(`worker exited (${code}):\n${output}`), { code, output })));
      });
      return child;
    },
    async json(path, init) {
      const res = await cluster.api(path, init);
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as never, headers: res.headers };
    },
    async stop() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await Promise.allSettled(workers.map((w) => w.stop(1000)));
      await cluster.stop();
    },
  };
  for (let i = 0; i < (options.workers ?? 1); i++) await wc.startWorker();
  return wc;
}

export interface DeviceGroup {
  client: MqttClient;
  /** Requests heard, per device name, in arrival order. */
  requests: Map<string, Array<{ messageId: string; payload: string }>>;
  inFlight: number;
  maxInFlight: number;
  /** Most requests one device had unanswered at once. */
  maxInFlightPerDevice: Map<string, number>;
  close(): Promise<void>;
}

/**
 * One MQTT connection answering every device of `productKey` (wildcard subscription): echoes the payload
 * after `delayMs`, or stays silent when `answer` returns false.
 */
export async function startDeviceGroup(
  url: string,
  productKey: string,
  delayMs = 0,
  answer: (deviceName: string, payload: string) => boolean = () => true,
  /** A counter shared by several groups: requests unanswered across all of them. */
  shared: { inFlight: number; max: number } = { inFlight: 0, max: 0 },
): Promise<DeviceGroup> {
  const client = await mqtt.connectAsync(url, { clientId: `group-${productKey}-${process.pid}`, protocolVersion: 4, reconnectPeriod: 0 });
  await client.subscribeAsync(`/sys/${productKey}/+/rrpc/request/+`, { qos: 0 });
  const group: DeviceGroup = {
    client,
    requests: new Map(),
    inFlight: 0,
    maxInFlight: 0,
    maxInFlightPerDevice: new Map(),
    close: () => client.endAsync(),
  };
  const perDevice = new Map<string, number>();
  client.on('message', (topic, payload) => {
    const parsed = parseRequestTopic(topic);
    if (!parsed) return;
    const deviceName = topic.split('/')[3] ?? '';
    const list = group.requests.get(deviceName) ?? [];
    list.push({ messageId: parsed.messageId, payload: payload.toString() });
    group.requests.set(deviceName, list);
    if (!answer(deviceName, payload.toString())) return;
    group.inFlight++;
    group.maxInFlight = Math.max(group.maxInFlight, group.inFlight);
    shared.inFlight++;
    shared.max = Math.max(shared.max, shared.inFlight);
    const mine = (perDevice.get(deviceName) ?? 0) + 1;
    perDevice.set(deviceName, mine);
    group.maxInFlightPerDevice.set(deviceName, Math.max(group.maxInFlightPerDevice.get(deviceName) ?? 0, mine));
    setTimeout(() => {
      group.inFlight--;
      shared.inFlight--;
      perDevice.set(deviceName, (perDevice.get(deviceName) ?? 1) - 1);
      client.publish(parsed.responseTopic, payload, { qos: 0 });
    }, delayMs);
  });
  return group;
}

export interface ReceivedCallback {
  body: string;
  signature: string | undefined;
  headers: IncomingHttpHeaders;
  status: number;
  traceparent?: string | undefined;
}

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedCallback[];
  /** TCP connections accepted (a refused callback must not even connect). */
  connections: number;
  server: Server;
  close(): Promise<void>;
}

/**
 * A local HTTP (or, given a key and certificate, HTTPS) receiver for callbacks: answers with `status()` (and
 * `headers()`) and keeps every request's raw body and headers.
 */
export async function startReceiver(
  status: (n: number) => number,
  options: { tls?: { key: string; cert: string }; headers?: (n: number) => Record<string, string> } = {},
): Promise<Receiver> {
  const received: ReceivedCallback[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = received.length;
      const code = status(n);
      received.push({
        body: Buffer.concat(chunks).toString(),
        signature: req.headers['x-rrpc-signature'] as string | undefined,
        headers: req.headers,
        status: code,
        traceparent: req.headers['traceparent'] as string | undefined,
      });
      for (const [name, value] of Object.entries(options.headers?.(n) ?? {})) res.setHeader(name, value);
      res.statusCode = code;
      res.end();
    });
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, handler) : createServer(handler);
  const receiver: Receiver = {
    url: '',
    port: 0,
    received,
    connections: 0,
    server,
    close: () => new Promise((r) => server.close(() => r())),
  };
  server.on(options.tls ? 'secureConnection' : 'connection', () => receiver.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  receiver.port = typeof address === 'object' && address ? address.port : 0;
  receiver.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${receiver.port}/hook`;
  return receiver;
}

export function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

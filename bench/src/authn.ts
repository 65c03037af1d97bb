/**
 * `node bench/dist/authn.js [seconds] [devices] [concurrency]`: broker authentication on one ingest
 * replica. EMQX has no authentication cache, so a broker restart makes every device log in again at once:
 * this measures how many logins per second one response-ingest process decides at POST /authn/emqx (the
 * registry read and the signature check of each), and the p99, as EMQX would drive it — many keep-alive
 * connections (EMQX's pool), requests pipelined, each a distinct registered device signing with its own
 * secret (hmacsha256). Defaults: 10 s, 10,000 devices, 128 requests in flight.
 *
 * Every answer is checked: a login that is not allowed is counted and fails the run.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { SecretBox, devicePassword, generateDeviceSecret } from '@rrpc/crypto';
import { DeviceRegistry, Keys, connectRedis, createRedis } from '@rrpc/store';
import { startRedis } from '@rrpc/testing';
import { HttpConnection } from './http-connection.js';
import { summarise } from './latency.js';
import { PRODUCT_KEY } from './nonce-payload.js';
import { cpuSeconds, startBenchMosquitto, startService, stopInOrder } from './processes.js';
import { WEBHOOK_TOKEN, servicesEnv } from './services-env.js';

const seconds = Number(process.argv[2] ?? 10);
const deviceCount = Number(process.argv[3] ?? 10_000);
const concurrency = Number(process.argv[4] ?? 128);
const CONNECTIONS = 16;

const secretsKey = randomBytes(32);
const redis = await startRedis();
const mosquitto = await startBenchMosquitto();
const ingest = await startService({
  service: 'response-ingest',
  instanceId: 'ingest-authn',
  cpuProfileDir: process.env['RRPC_BENCH_CPU_PROFILE'],
  env: {
    ...servicesEnv({ redis: redis.url, mqtt: mosquitto.url }),
    RRPC_DEVICE_REGISTRY: 'on',
    RRPC_SECRETS_KEY: secretsKey.toString('base64'),
  },
});

// The devices: registered once (pipelined), each with its own secret; one prepared login request each.
const client = createRedis({ url: redis.url, commandTimeoutMs: 10_000, connectionName: 'bench-authn' });
await connectRedis(client);
const registry = new DeviceRegistry(client, new Keys('rrpc'), new SecretBox(secretsKey));
const devices = Array.from({ length: deviceCount }, (_, i) => ({
  device: { productKey: PRODUCT_KEY, deviceName: `authn-${String(i).padStart(6, '0')}` },
  secret: generateDeviceSecret(),
}));
const registerStart = performance.now();
for (let i = 0; i < devices.length; i += 1000) await registry.createMany(devices.slice(i, i + 1000));
const registerSeconds = (performance.now() - registerStart) / 1000;
client.disconnect();

const timestamp = String(Date.now());
const requests = devices.map(({ device, secret }) => {
  const id = `${device.deviceName}-sn`;
  const body = JSON.stringify({
    clientid: `${id}|securemode=2,signmethod=hmacsha256,timestamp=${timestamp}|`,
    username: `${device.deviceName}&${device.productKey}`,
    password: devicePassword(
      secret,
      { clientId: id, productKey: device.productKey, deviceName: device.deviceName, timestamp },
      'hmacsha256',
    ),
    peerhost: '10.0.0.1',
  });
  return Buffer.from(
    `POST /authn/emqx HTTP/1.1\r\nHost: ingest\r\nAuthorization: Bearer ${WEBHOOK_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
});

const connections = await Promise.all(Array.from({ length: CONNECTIONS }, () => HttpConnection.open('127.0.0.1', ingest.port)));
let next = 0;
let allowed = 0;
let refused = 0;
let failed = 0;
const samples: number[] = [];

async function worker(connection: HttpConnection, until: number, record: boolean): Promise<void> {
  while (performance.now() < until) {
    const request = requests[next++ % requests.length]!;
    const start = performance.now();
    try {
      const answer = await connection.send(request);
      if (!record) continue;
      samples.push(performance.now() - start);
      if (answer.status === 200 && answer.body.includes('"result":"allow"')) allowed++;
      else refused++;
    } catch {
      failed++;
    }
  }
}

async function phase(durationMs: number, record: boolean): Promise<number> {
  const start = performance.now();
  const until = start + durationMs;
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(connections[i % CONNECTIONS]!, until, record)));
  return (performance.now() - start) / 1000;
}

await phase(2000, false); // warm-up
const load = loadavg()[0]?.toFixed(2);
const cpuBefore = cpuSeconds(ingest.pid);
const elapsed = await phase(seconds * 1000, true);
const cpu = cpuSeconds(ingest.pid) - cpuBefore;
for (const c of connections) c.close();
await stopInOrder(ingest, mosquitto, redis);

const latency = summarise(samples);
const perSecond = Math.round(allowed / elapsed);
process.stdout.write(
  [
    `authentication: one response-ingest replica, ${deviceCount} registered devices (registered in ${registerSeconds.toFixed(2)} s), ${concurrency} logins in flight over ${CONNECTIONS} connections, ${elapsed.toFixed(1)} s, load average ${load}`,
    `  ${perSecond} logins/s allowed (target >= 5,000/s); p50 ${latency.p50} ms, p99 ${latency.p99} ms, p99.9 ${latency.p999} ms, max ${latency.max} ms`,
    `  ingest CPU ${(cpu / elapsed).toFixed(2)} cores (${Math.round(allowed / Math.max(cpu, 1e-9))} logins per CPU second); refused ${refused}, failed ${failed}`,
    '',
  ].join('\n'),
);
process.exit(refused + failed > 0 ? 1 : 0);

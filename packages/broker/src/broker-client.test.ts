/**
 * The wrapper's resubscribe after a reconnect runs from an event: it must never become an unhandled
 * rejection (which ends the process), whether the broker refuses the subscription or the connection drops
 * in the middle of it. Real brokers: aedes with an authorizer that refuses the filter (mosquitto 2.0
 * grants filters its ACL denies), and mosquitto behind a TCP proxy that cuts the connection when the
 * SUBSCRIBE packet passes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, portOpen, waitFor } from '@rrpc/testing';
import { Aedes } from 'aedes';
import { BrokerClient } from './broker-client.js';

const FILTER = 'rrpc/test/replies/#';
const dir = mkdtempSync(join(tmpdir(), 'rrpc-broker-client-'));
chmodSync(dir, 0o755); // mosquitto started as root reads its config as the mosquitto user
let mosquitto: ChildProcess | undefined;
let port: number;

/** A private mosquitto on `port`. */
async function startMosquitto(): Promise<void> {
  const conf = join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error'];
  writeFileSync(conf, lines.join('\n') + '\n');
  const binary = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p)) ?? 'mosquitto';
  mosquitto = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(() => portOpen(port), 10_000, 'mosquitto');
}
async function stopMosquitto(): Promise<void> {
  const m = mosquitto;
  if (!m || m.exitCode !== null || m.signalCode !== null) return;
  const gone = new Promise((r) => m.once('exit', r));
  m.kill('SIGKILL');
  await gone;
}

const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);
let client: BrokerClient | undefined;

beforeAll(async () => {
  port = await freePort();
  process.on('unhandledRejection', onRejection);
});
afterEach(async () => {
  await client?.close();
  client = undefined;
  await stopMosquitto();
});
afterAll(() => {
  process.off('unhandledRejection', onRejection);
  rmSync(dir, { recursive: true, force: true });
});

const waitUntil = (check: () => boolean, what: string) => waitFor(check, 15_000, what);

describe('BrokerClient resubscribe after a reconnect', () => {
  it('a broker that refuses the subscription: reported, not ready, no unhandled rejection; granted later, ready again', async () => {
    // aedes (MQTT 3.1.1) with an authorizeSubscribe that can refuse: SUBACK 0x80.
    let refuse = false;
    const broker = await Aedes.createBroker({
      authorizeSubscribe: (_client, sub, callback) => callback(null, refuse ? null : sub), // null: SUBACK 0x80
    });
    const server = createServer(broker.handle);
    const brokerPort = await freePort();
    await new Promise<void>((r) => server.listen(brokerPort, '127.0.0.1', () => r()));
    try {
      client = new BrokerClient({ url: `mqtt://127.0.0.1:${brokerPort}`, clientId: 'refuse-test', protocolVersion: 4 });
      const errors: Error[] = [];
      client.on('broker-error', (e: Error) => errors.push(e));
      await client.connect();
      await client.subscribe([{ filter: FILTER, qos: 0 }]);
      expect(client.ready).toBe(true);

      refuse = true;
      (client.client.stream as Socket).destroy(); // a drop: the reconnect's resubscribe is refused
      await waitUntil(() => errors.some((e) => /refused subscriptions: rrpc\/test\/replies/.test(e.message)), 'the refusal reported');
      expect(client.connected).toBe(true);
      expect(client.ready).toBe(false);

      refuse = false; // the wrapper tries again on the same connection
      await waitUntil(() => client!.ready, 'ready again');
      expect(rejections).toEqual([]);
    } finally {
      await client?.close();
      client = undefined;
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise((r) => server.close(r));
    }
  }, 60_000);

  it('the connection drops mid-subscribe: no unhandled rejection; the next connect subscribes', async () => {
    await startMosquitto();
    // A proxy in front of mosquitto that can cut the connection when a SUBSCRIBE packet (0x82) passes.
    let cutOnSubscribe = false;
    let cuts = 0;
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((downstream) => {
      const upstream = connect(port, '127.0.0.1');
      sockets.add(downstream).add(upstream);
      downstream.on('data', (chunk: Buffer) => {
        if (cutOnSubscribe && chunk[0] === 0x82) {
          cutOnSubscribe = false;
          cuts++;
          downstream.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => downstream.write(chunk));
      for (const s of [downstream, upstream]) {
        s.on('error', () => undefined);
        s.on('close', () => {
          downstream.destroy();
          upstream.destroy();
        });
      }
    });
    const proxyPort = await freePort();
    await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', () => r()));
    try {
      client = new BrokerClient({ url: `mqtt://127.0.0.1:${proxyPort}`, clientId: 'drop-test', protocolVersion: 5 });
      let subscribed = 0;
      client.on('subscribed', () => subscribed++);
      await client.connect();
      await client.subscribe([{ filter: FILTER, qos: 0 }]);
      expect(subscribed).toBe(1);

      cutOnSubscribe = true;
      for (const s of sockets) s.destroy(); // a drop; the reconnect's SUBSCRIBE is cut too
      await waitUntil(() => cuts === 1, 'the SUBSCRIBE cut');
      await waitUntil(() => client!.ready && subscribed === 2, 'subscribed on the next connect');
      expect(rejections).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  }, 60_000);
});

import { randomBytes, randomUUID } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerClient } from '@rrpc/broker';
import { SecretBox } from '@rrpc/crypto';
import { CallStore, DeviceRegistry, Keys, PresenceStore, connectRedis, createRedis, createSubscriber, type RedisClient } from '@rrpc/store';
import { startMosquitto, startRedis, waitFor, type ManagedServer } from '@rrpc/testing';
import { Caller } from './caller.js';

// A full garbage collection on demand, to see what a pending call keeps alive.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

const device = { productKey: 'a1Caller', deviceName: 'silent-1' };

let redis: ManagedServer;
let mosquitto: ManagedServer;
let commands: RedisClient;
let calls: CallStore;
let broker: BrokerClient;
let caller: Caller;
let silentDevice: MqttClient;
const requests: Array<{ topic: string; payload: Buffer }> = [];
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  [redis, mosquitto] = await Promise.all([startRedis(), startMosquitto()]);
  commands = createRedis({ url: redis.url, commandTimeoutMs: 2000, connectionName: 'caller-test:cmd' });
  await connectRedis(commands);
  closers.push(() => commands.disconnect());
  const keys = new Keys(`caller-test-${randomUUID().slice(0, 8)}`);
  calls = new CallStore(commands, keys, 60_000);
  broker = new BrokerClient({ url: mosquitto.url, clientId: `caller-test-${process.pid}`, protocolVersion: 5 });
  await broker.connect();
  closers.push(() => broker.close());
  caller = new Caller({ calls, broker, instanceId: 'caller-test', protocolVersion: 5, logger: pino({ level: 'silent' }) });
  const subscriber = await createSubscriber(
    { url: redis.url, commandTimeoutMs: 2000, connectionName: 'caller-test:reply' },
    commands,
    caller.channel,
  );
  await connectRedis(subscriber.connection);
  closers.push(() => subscriber.connection.disconnect());
  await caller.start(subscriber);
  closers.push(() => caller.stop());

  // A device that hears its requests and never answers; the test answers for it through the claim.
  silentDevice = await mqtt.connectAsync(mosquitto.url, { clientId: `${device.deviceName}|securemode=3|`, protocolVersion: 4 });
  closers.push(() => silentDevice.endAsync());
  await silentDevice.subscribeAsync(`/sys/${device.productKey}/${device.deviceName}/rrpc/request/+`, { qos: 0 });
  silentDevice.on('message', (topic, payload) => requests.push({ topic, payload }));
  await new DeviceRegistry(commands, keys, new SecretBox(randomBytes(32))).create(device, 'a-device-secret-0123456789');
  await new PresenceStore(commands, keys, 0).connected({ device, clientId: 'silent', connectedAt: Date.now(), keepaliveSeconds: 60 });
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await Promise.all([redis?.stop(), mosquitto?.stop()]);
});

describe('Caller', () => {
  it('keeps nothing of the request alive while the call waits for its answer', async () => {
    let payloadRef: WeakRef<Buffer> | undefined;
    const pending = (() => {
      const payload = randomBytes(64 * 1024);
      payloadRef = new WeakRef(payload);
      return caller.call({ device, payload, timeoutMs: 10_000 });
    })();
    await waitFor(() => requests.length === 1, 5000, 'the request at the device');
    expect(caller.inFlight).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, 0)); // a WeakRef holds its target until the job that made it ends
    collectGarbage();
    expect(payloadRef?.deref()).toBeUndefined();

    // The call still ends with its own answer (claimed as the ingest would).
    const messageId = requests[0]?.topic.split('/').pop() ?? '';
    expect(await calls.claim({ device, messageId, payload: Buffer.from('answer'), orderEchoInstance: '' })).toBe('matched');
    const outcome = await pending;
    expect(outcome).toMatchObject({ rrpcCode: 'SUCCESS', messageId });
    expect(outcome.rrpcCode === 'SUCCESS' && outcome.payload.toString()).toBe('answer');
    expect(caller.inFlight).toBe(0);
  });

  it('drained() waits for a call still inside begin() (its pending record written, not yet published)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let pendingSeen = false;
    const outcome = caller.call({
      device,
      payload: Buffer.from('drain'),
      timeoutMs: 300,
      topic: undefined,
      onPending: async () => {
        pendingSeen = true;
        await gate;
      },
    });
    await waitFor(() => pendingSeen, 5000, 'the call inside begin()');
    let drained = false;
    const draining = caller.drained().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(drained).toBe(false);
    release();
    expect((await outcome).rrpcCode).toBe('TIMEOUT'); // the silent device never answers
    await draining;
    expect(drained).toBe(true);
    expect(caller.inFlight).toBe(0);
  });
});

/**
 * Devices for fault injection: each an MQTT client with the Alibaba username that answers RRPC requests
 * with its payload, reconnects by itself after a broker restart, and — playing EMQX's part, which a plain
 * Mosquitto has not — posts the presence webhook to a response-ingest on every (re)connect.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { deviceRequestFilter, formatUsername, parseRequestTopic } from '@rrpc/topics';
import { connectedEvent, disconnectedEvent } from '../../support/cluster.js';
import type { TestRegistry } from '../../support/registry.js';

export interface FleetDevice {
  readonly deviceName: string;
  readonly client: MqttClient;
  /** 'echo': answer with the payload; 'silent': never answer; 'drop': disconnect on the first request. */
  mode: 'echo' | 'silent' | 'drop';
  readonly requests: number;
}

export interface Fleet {
  readonly devices: FleetDevice[];
  /** Webhooks that failed (an ingest down or Redis stalled): EMQX would retry them, and so do we. */
  readonly webhookFailures: number;
  close(): Promise<void>;
}

export interface FleetOptions {
  brokerUrl: string;
  productKey: string;
  count: number;
  /** Ingest webhook URLs, tried in turn. */
  webhooks: () => string[];
  webhookToken: string;
  prefix?: string;
  /** The device registry the fleet's devices are registered in before they connect (registry on). */
  registry?: TestRegistry;
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  let webhookFailures = 0;
  const post = async (body: unknown) => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const urls = options.webhooks();
      const url = urls[attempt % urls.length];
      const res = await fetch(`${url}/hooks/emqx`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.webhookToken}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(2000),
      }).catch(() => undefined);
      if (res?.status === 200) return;
      webhookFailures++;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const devices: FleetDevice[] = [];
  const nameOf = (i: number) => `${options.prefix ?? 'dev'}-${String(i).padStart(3, '0')}`;
  await options.registry?.register(
    Array.from({ length: options.count }, (_, i) => ({ productKey: options.productKey, deviceName: nameOf(i) })),
  );
  for (let i = 0; i < options.count; i++) {
    const deviceName = nameOf(i);
    const client = mqtt.connect(options.brokerUrl, {
      clientId: `${deviceName}|securemode=3,signmethod=hmacsha1|`,
      username: formatUsername({ productKey: options.productKey, deviceName }),
      protocolVersion: 4,
      reconnectPeriod: 300,
      connectTimeout: 2000,
    });
    const device = { deviceName, client, mode: 'echo' as FleetDevice['mode'], requests: 0 };
    client.on('connect', () => {
      void client
        .subscribeAsync(deviceRequestFilter({ productKey: options.productKey, deviceName }), { qos: 0 })
        .then(() => post(connectedEvent(options.productKey, deviceName, Date.now(), 30)));
    });
    client.on('error', () => undefined);
    client.on('message', (topic, payload) => {
      const parsed = parseRequestTopic(topic);
      if (!parsed) return;
      device.requests++;
      if (device.mode === 'echo') client.publish(parsed.responseTopic, payload, { qos: 0 });
      if (device.mode === 'drop') {
        device.mode = 'silent';
        client.end(true, () => void post(disconnectedEvent(options.productKey, deviceName, Date.now(), 'keepalive_timeout')));
      }
    });
    devices.push(device);
  }
  await Promise.all(devices.filter((d) => !d.client.connected).map((d) => new Promise((r) => d.client.once('connect', r))));
  return {
    devices,
    get webhookFailures() {
      return webhookFailures;
    },
    close: async () => {
      await Promise.all(devices.map((d) => d.client.endAsync(true)));
    },
  };
}

/**
 * The bench's simulated devices, in their own process: one MQTT 3.1.1 connection per device (Alibaba
 * username and client id), subscribed to its system request topic; each request is echoed back on the
 * response topic, at once ("fast" devices) or after a fixed delay ("slow" devices).
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Socket } from 'node:net';
import { serve } from './ipc.js';
import { PRODUCT_KEY, fastDevice, slowDevice } from './nonce-payload.js';

const clients: MqttClient[] = [];
let received = 0;
let answered = 0;
let held = 0;
/** Slow answers wait for this as well as their delay, so a mass of calls is pending at one moment. */
let released: Promise<void> = Promise.resolve();
let release: () => void = () => undefined;

async function connectDevice(url: string, deviceName: string, delayMs: number): Promise<void> {
  const client = await mqtt.connectAsync(url, {
    clientId: `${deviceName}|securemode=3,signmethod=hmacsha1,timestamp=${Date.now()}|`,
    username: `${deviceName}&${PRODUCT_KEY}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
    keepalive: 60,
  });
  (client.stream as Partial<Socket>).setNoDelay?.(true);
  const requestPrefix = `/sys/${PRODUCT_KEY}/${deviceName}/rrpc/request/`;
  const responsePrefix = `/sys/${PRODUCT_KEY}/${deviceName}/rrpc/response/`;
  await client.subscribeAsync(`${requestPrefix}+`, { qos: 0 });
  client.on('message', (topic, payload) => {
    if (!topic.startsWith(requestPrefix)) return;
    received++;
    const responseTopic = responsePrefix + topic.slice(requestPrefix.length);
    const answer = () => {
      client.publish(responseTopic, payload, { qos: 0 });
      answered++;
    };
    if (delayMs <= 0) return answer();
    // Held until released, but never so long that the call (60 s timeout) would time out.
    held++;
    const gate = Promise.race([released, new Promise((r) => setTimeout(r, 45_000))]);
    setTimeout(() => {
      void gate.then(() => {
        held--;
        answer();
      });
    }, delayMs);
  });
  clients.push(client);
}

serve({
  async start(args: { url: string; fast: number; slow: number; slowDelayMs: number }) {
    const names: Array<[string, number]> = [];
    for (let i = 0; i < args.fast; i++) names.push([fastDevice(i), 0]);
    for (let i = 0; i < args.slow; i++) names.push([slowDevice(i), args.slowDelayMs]);
    for (let i = 0; i < names.length; i += 32) {
      await Promise.all(names.slice(i, i + 32).map(([name, delay]) => connectDevice(args.url, name, delay)));
    }
    return { devices: clients.length };
  },
  /** Slow devices hold their answers (beyond their delay) until `release`. */
  hold() {
    released = new Promise((resolve) => (release = resolve));
    return {};
  },
  release() {
    release();
    return {};
  },
  counters() {
    return { received, answered, held };
  },
  async stop() {
    await Promise.all(clients.map((c) => c.endAsync()));
    return {};
  },
});

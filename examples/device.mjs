#!/usr/bin/env node
/**
 * A runnable RRPC device, built on @rrpc/device-sdk: it connects to the broker, answers calls on its
 * system topic (the reversed request text) and on one custom topic (`user/time`: the device's clock),
 * and keeps answering across reconnects until Ctrl-C. See docs/examples.md.
 *
 *   MQTT_URL=mqtt://127.0.0.1:<port> node examples/device.mjs
 *
 * Settings (environment, all optional but MQTT_URL):
 *   MQTT_URL        the broker (npm start prints it on its "MQTT broker" line)
 *   PRODUCT_KEY     default "demo" (the product npm start's API key may call)
 *   DEVICE_NAME     default "example-1"
 *   DEVICE_SECRET   signs the MQTT password (securemode=3); without it no password is sent
 */
import { connectDevice } from '@rrpc/device-sdk';

const url = process.env.MQTT_URL;
if (!url) {
  console.error('Set MQTT_URL to the broker, e.g. MQTT_URL=mqtt://127.0.0.1:1883 node examples/device.mjs');
  process.exit(2);
}
const productKey = process.env.PRODUCT_KEY || 'demo';
const deviceName = process.env.DEVICE_NAME || 'example-1';

const device = await connectDevice({ url, productKey, deviceName, deviceSecret: process.env.DEVICE_SECRET || undefined, ext: true });
device.on('error', (error) => console.error(`error: ${error.message}`));
device.on('offline', () => console.log('offline: reconnecting ...'));
device.on('connect', () => console.log('connected again'));

// System topic (/sys/{pk}/{dn}/rrpc/request/{messageId}): what a plain POST …/rrpc reaches.
await device.onRrpc((payload, ctx) => {
  const text = payload.toString('utf8');
  console.log(`call ${ctx.messageId}: "${text}"`);
  return [...text].reverse().join('');
});

// A custom topic: POST …/rrpc with {"topic": "/{pk}/{dn}/user/time"}.
await device.onRrpc('user/time', () => new Date().toISOString());

console.log(`ready: ${productKey}/${deviceName} on ${url} (Ctrl-C stops)`);

const stop = async () => {
  await device.disconnect();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

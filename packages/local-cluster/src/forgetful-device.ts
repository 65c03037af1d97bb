/**
 * A simulated device that connects and never subscribes to its request topics: the failure issue 14 is
 * about (a device connected but deaf to RRPC). With RRPC_TRACK_SUBSCRIPTIONS a call to it ends at once
 * with 404 NOT_SUBSCRIBED instead of waiting out its timeout; `npm start` shows that. It is registered like
 * the other simulated devices and signs its login with its secret (the embedded broker authenticates it).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { deviceCredentials } from '@rrpc/device-sdk';
import type { DeviceRef } from '@rrpc/topics';

export interface ForgetfulDevice extends DeviceRef {
  close(): Promise<void>;
}

export async function connectForgetfulDevice(url: string, device: DeviceRef, deviceSecret: string): Promise<ForgetfulDevice> {
  const credentials = deviceCredentials({ ...device, clientId: device.deviceName, deviceSecret, timestamp: Date.now() });
  const client: MqttClient = await mqtt.connectAsync(url, { ...credentials, protocolVersion: 4, reconnectPeriod: 0 });
  return { ...device, close: () => client.endAsync() };
}

/**
 * A simulated device that connects and never subscribes to its request topics: the failure issue 14 is
 * about (a device connected but deaf to RRPC). With RRPC_TRACK_SUBSCRIPTIONS a call to it ends at once
 * with 404 NOT_SUBSCRIBED instead of waiting out its timeout; `npm start` shows that.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { formatUsername, type DeviceRef } from '@rrpc/topics';

export interface ForgetfulDevice extends DeviceRef {
  close(): Promise<void>;
}

export async function connectForgetfulDevice(url: string, device: DeviceRef): Promise<ForgetfulDevice> {
  const client: MqttClient = await mqtt.connectAsync(url, {
    clientId: `${device.deviceName}|securemode=3,signmethod=hmacsha1|`,
    username: formatUsername(device),
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  return { ...device, close: () => client.endAsync() };
}

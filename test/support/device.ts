/**
 * A minimal device for integration tests: connects to the broker with the Alibaba username and answers
 * RRPC requests on system and custom topics with whatever `answer` returns (undefined: stay silent).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { deviceCustomRequestFilter, deviceRequestFilter, formatUsername, parseRequestTopic } from '@rrpc/topics';

export interface TestDevice {
  client: MqttClient;
  requests: Array<{ topic: string; payload: Buffer }>;
  publish(topic: string, payload: Buffer | string, qos?: 0 | 1): Promise<void>;
  close(): Promise<void>;
}

export type Answer = (request: { topic: string; payload: Buffer; messageId: string; responseTopic: string }) => Buffer | string | undefined;

export async function startDevice(
  url: string,
  productKey: string,
  deviceName: string,
  answer: Answer,
  customTopics: string[] = [],
): Promise<TestDevice> {
  const client = await mqtt.connectAsync(url, {
    clientId: `${deviceName}|securemode=3,signmethod=hmacsha1,ext=1|`,
    username: formatUsername({ productKey, deviceName }),
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const requests: TestDevice['requests'] = [];
  const filters = [deviceRequestFilter({ productKey, deviceName }), ...customTopics.map(deviceCustomRequestFilter)];
  await client.subscribeAsync(filters, { qos: 0 });
  // On a custom topic the device hears its own answer too: answer each message ID once.
  const answered = new Set<string>();
  client.on('message', (topic, payload) => {
    const parsed = parseRequestTopic(topic);
    if (!parsed || answered.has(parsed.messageId)) return;
    answered.add(parsed.messageId);
    requests.push({ topic, payload });
    const reply = answer({ topic, payload, ...parsed });
    if (reply !== undefined) client.publish(parsed.responseTopic, reply, { qos: 0 });
  });
  return {
    client,
    requests,
    publish: async (topic, payload, qos = 0) => {
      await client.publishAsync(topic, payload, { qos });
    },
    close: () => client.endAsync(),
  };
}

/** The broker's own count of PUBLISH packets received and sent, from its $SYS tree (refreshed each second). */
import mqtt, { type MqttClient } from 'mqtt';

const RECEIVED = '$SYS/broker/publish/messages/received';
const SENT = '$SYS/broker/publish/messages/sent';

export class BrokerCounters {
  private latest = { received: 0, sent: 0, at: 0 };
  private readonly listeners: Array<() => void> = [];

  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      if (topic === RECEIVED) this.latest.received = Number(payload.toString());
      if (topic === SENT) {
        this.latest.sent = Number(payload.toString());
        this.latest.at = Date.now();
        for (const l of this.listeners.splice(0)) l();
      }
    });
  }

  static async connect(url: string): Promise<BrokerCounters> {
    const client = await mqtt.connectAsync(url, { clientId: `bench-sys-${process.pid}`, protocolVersion: 5, reconnectPeriod: 0 });
    const counters = new BrokerCounters(client);
    await client.subscribeAsync([RECEIVED, SENT], { qos: 0 });
    return counters;
  }

  /** The counters as of the broker's next $SYS update (so traffic up to now is included). */
  async snapshot(): Promise<{ received: number; sent: number }> {
    const after = Date.now();
    while (this.latest.at <= after) await new Promise<void>((resolve) => this.listeners.push(resolve));
    await new Promise((r) => setTimeout(r, 100)); // both counters of that update have arrived
    return { received: this.latest.received, sent: this.latest.sent };
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { formatUsername, parseRequestTopic } from '@rrpc/topics';
import { WEBHOOK_TOKEN, startCluster, type TestCluster } from '../support/cluster.js';
import { startDevice, type TestDevice } from '../support/device.js';

/**
 * One device may not read or answer another device's calls. Two locks, each tested on its own:
 *  1. the broker's authorization (POST /authz/emqx on the ingest) refuses every topic that would let the
 *     attacker hear the victim's requests or answer on the victim's topics;
 *  2. should a broker let it through anyway (this test's Mosquitto has no ACL at all), the ingest's claim
 *     refuses an answer whose topic names another device than the call's target.
 */
const PK = 'a1Priv';
const VICTIM = 'victim-01';
const ATTACKER = 'attacker-01';
const ID = '385437786871333340';

let cluster: TestCluster;
let victim: TestDevice;

beforeAll(async () => {
  cluster = await startCluster({ env: { RRPC_SERVICE_MQTT_USERNAME: 'rrpc-platform' } });
});
afterAll(async () => {
  await victim?.close();
  await cluster.stop();
});

async function authz(username: string, action: 'publish' | 'subscribe', topic: string) {
  const res = await fetch(`${cluster.ingests[0]!.url}/authz/emqx`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
    body: JSON.stringify({
      clientid: `${username.split('&')[0]}|securemode=3,signmethod=hmacsha1|`,
      username,
      topic,
      action,
      qos: '0',
      retain: 'false',
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: string }).result;
}

describe('broker authorization (POST /authz/emqx)', () => {
  const attacker = formatUsername({ productKey: PK, deviceName: ATTACKER });

  it("refuses every way for a device to hear another device's requests", async () => {
    for (const topic of [
      `/sys/${PK}/${VICTIM}/rrpc/request/+`,
      `/sys/${PK}/${VICTIM}/rrpc/request/${ID}`,
      `/sys/${PK}/+/rrpc/request/+`,
      `/sys/${PK}/#`,
      `/sys/+/+/rrpc/request/+`,
      '#',
      '/#',
      `$share/g/sys/${PK}/${VICTIM}/rrpc/request/+`,
      `$share/g//sys/${PK}/${VICTIM}/rrpc/request/+`,
      `/ext/rrpc/+/${PK}/${VICTIM}/user/get`,
      `/ext/rrpc/#`,
      `/sys/${PK}/${ATTACKER}/../${VICTIM}/rrpc/request/+`,
    ]) {
      expect(await authz(attacker, 'subscribe', topic), topic).toBe('deny');
    }
  });

  it("refuses every way for a device to answer another device's calls", async () => {
    for (const topic of [
      `/sys/${PK}/${VICTIM}/rrpc/response/${ID}`,
      `/ext/rrpc/${ID}/${PK}/${VICTIM}/user/get`,
      `/sys/${PK}/+/rrpc/response/${ID}`,
    ]) {
      expect(await authz(attacker, 'publish', topic), topic).toBe('deny');
    }
  });

  it('allows the device its own topics (the refusals above are not a blanket deny)', async () => {
    expect(await authz(attacker, 'subscribe', `/sys/${PK}/${ATTACKER}/rrpc/request/+`)).toBe('allow');
    expect(await authz(attacker, 'publish', `/sys/${PK}/${ATTACKER}/rrpc/response/${ID}`)).toBe('allow');
  });
});

describe("the ingest's own check (a broker without any ACL)", () => {
  it("ignores an answer to another device's call: the call is not answered by the attacker", async () => {
    victim = await startDevice(cluster.mosquitto.url, PK, VICTIM, () => undefined); // hears, never answers
    await cluster.connectDevice(PK, VICTIM);
    // The attacker reads everything (no ACL here) and answers each request it sees for the victim on its
    // own response topic, with the victim's message ID.
    const spy = await mqtt.connectAsync(cluster.mosquitto.url, {
      clientId: `${ATTACKER}|securemode=3,signmethod=hmacsha1|`,
      username: formatUsername({ productKey: PK, deviceName: ATTACKER }),
      protocolVersion: 4,
    });
    let forged = 0;
    spy.on('message', (topic) => {
      const parsed = parseRequestTopic(topic);
      if (!parsed || topic.split('/')[3] !== VICTIM) return;
      forged++;
      spy.publish(`/sys/${PK}/${ATTACKER}/rrpc/response/${parsed.messageId}`, 'forged', { qos: 1 });
    });
    await spy.subscribeAsync('/sys/#', { qos: 0 });
    try {
      const res = await cluster.call(PK, VICTIM, { payload: Buffer.from('secret').toString('base64'), timeoutMs: 1500 });
      const body = (await res.json()) as { rrpcCode: string; messageId: string; payload?: string };
      expect(forged).toBe(1);
      expect(res.status).toBe(504);
      expect(body.rrpcCode).toBe('TIMEOUT');
      const stored = (await (await cluster.api(`/v1/rrpc/${body.messageId}`)).json()) as { rrpcCode: string; payload?: string };
      expect(stored.rrpcCode).toBe('TIMEOUT');
      expect(stored.payload).toBeUndefined();
      await waitFor(
        async () =>
          /rrpc_responses_ingested_total\{[^}]*result="rejected"[^}]*\} 1/.test(
            await (await fetch(`${cluster.ingests[0]!.url}/metrics`)).text(),
          ),
        5000,
        'the ingest to count the rejected answer',
      );
    } finally {
      await spy.endAsync();
    }
  });
});

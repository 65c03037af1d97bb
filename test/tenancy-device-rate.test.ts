import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { b64, startDeviceGroup, startWorkerCluster, type DeviceGroup, type WorkerCluster } from './support/worker-cluster.js';

/**
 * The per-device rate limit (RRPC_RATE_LIMIT_PER_DEVICE) applies to the worker's calls too (issue 12): jobs and
 * batches cannot send a device more than its limit, and calls over it wait instead of failing.
 */
const PK = 'a1DevRate';
let cluster: WorkerCluster;
let group: DeviceGroup;
const arrivals = new Map<string, number[]>();

beforeAll(async () => {
  cluster = await startWorkerCluster({ env: { RRPC_RATE_LIMIT_PER_DEVICE: '2' } });
  group = await startDeviceGroup(cluster.mosquitto.url, PK, 10, (dn) => {
    arrivals.set(dn, [...(arrivals.get(dn) ?? []), Date.now()]);
    return true;
  });
  await cluster.connectDevice(PK, 'limited-1');
});
afterAll(async () => {
  await group?.close();
  await cluster?.stop();
});

describe("the worker's calls respect the device's rate", () => {
  it('six jobs to a device limited to 2 calls a second all succeed, no faster than its limit', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await cluster.json(`/v1/devices/${PK}/limited-1/rrpc/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload: b64(`j${i}`) }),
      });
      expect(res.status).toBe(202);
      ids.push(String(res.body['id']));
    }
    const state = async (id: string) => String((await cluster.json(`/v1/devices/${PK}/limited-1/rrpc/jobs/${id}`)).body['state']);
    await waitFor(async () => (await Promise.all(ids.map(state))).every((s) => s === 'SUCCEEDED'), 30_000, 'every job SUCCEEDED');
    const times = arrivals.get('limited-1') ?? [];
    expect(times).toHaveLength(6);
    // A burst of 2, then one every 500 ms: the 6th request at least 1.5 s after the 1st (allowing for clock steps).
    expect(times[5]! - times[0]!).toBeGreaterThanOrEqual(1400);
  });
});

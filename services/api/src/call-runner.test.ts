import { describe, expect, it } from 'vitest';
import { RrpcError } from '@rrpc/errors';
import type { CallOutcome, CallRequest } from '@rrpc/caller';
import { createApiMetrics, createRegistry } from '@rrpc/metrics';
import { meteredCalls, type CallRunner } from './call-runner.js';
import { inFlightLimit } from './in-flight-limit.js';

const request: CallRequest = { device: { productKey: 'pk', deviceName: 'dn' }, payload: Buffer.from('x'), timeoutMs: 1000 };

/** A runner whose calls stay open until the test ends them. */
function heldRunner() {
  const open: Array<{ resolve(o: CallOutcome): void; reject(e: unknown): void }> = [];
  const run: CallRunner = () => new Promise((resolve, reject) => open.push({ resolve, reject }));
  return { run, open };
}

const success: CallOutcome = { rrpcCode: 'SUCCESS', messageId: '1', payload: Buffer.from('y'), durationMs: 2 };

async function metricValue(registry: ReturnType<typeof createRegistry>, name: string, label?: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.filter((v) => label === undefined || v.labels['outcome'] === label).reduce((a, v) => a + v.value, 0);
}

describe('in-flight limit', () => {
  it("keeps one key to its share of the pod's cap; other keys' calls still go through", async () => {
    const held = heldRunner();
    const limited = inFlightLimit(held.run, 10, 2);
    const keyA = { keyId: 'a', products: undefined, ratePerSecond: undefined, admin: false, caps: {} };
    const keyB = { ...keyA, keyId: 'b' };
    const first = limited(request, keyA);
    void limited(request, keyA);
    await expect(limited(request, keyA)).rejects.toMatchObject({ code: 'UNAVAILABLE', headers: { 'Retry-After': '1' } });
    void limited(request, keyB);
    expect(limited.inFlight()).toBe(3);
    held.open[0]?.resolve(success);
    await first;
    void limited(request, keyA); // a slot of its own share is free again
    expect(limited.inFlight()).toBe(3);
  });

  it('refuses beyond its cap and frees a slot when a call succeeds or fails', async () => {
    const held = heldRunner();
    const limited = inFlightLimit(held.run, 2);
    const first = limited(request, undefined);
    const second = limited(request, undefined);
    expect(limited.inFlight()).toBe(2);
    await expect(limited(request, undefined)).rejects.toMatchObject({ code: 'UNAVAILABLE', headers: { 'Retry-After': '1' } });

    held.open[0]?.resolve(success);
    await expect(first).resolves.toBe(success);
    expect(limited.inFlight()).toBe(1);

    held.open[1]?.reject(new RrpcError('RATE_LIMITED'));
    await expect(second).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(limited.inFlight()).toBe(0);
  });

  it('frees the slot when the runner throws instead of returning a promise', async () => {
    const limited = inFlightLimit(() => {
      throw new Error('synchronous failure');
    }, 1);
    await expect(limited(request, undefined)).rejects.toThrow('synchronous failure');
    expect(limited.inFlight()).toBe(0);
  });
});

describe('metered calls', () => {
  it('counts outcomes and failures by label and keeps the in-flight gauge exact', async () => {
    const registry = createRegistry('api-test');
    const metrics = createApiMetrics(registry);
    const held = heldRunner();
    const run = meteredCalls(held.run, metrics);

    const ok = run(request, undefined);
    const limited = run(request, undefined);
    const broken = run(request, undefined);
    expect(await metricValue(registry, 'rrpc_calls_in_flight')).toBe(3);

    held.open[0]?.resolve(success);
    held.open[1]?.reject(new RrpcError('RATE_LIMITED'));
    held.open[2]?.reject(new Error('boom'));
    await expect(ok).resolves.toBe(success);
    await expect(limited).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await expect(broken).rejects.toThrow('boom');

    expect(await metricValue(registry, 'rrpc_calls_in_flight')).toBe(0);
    expect(await metricValue(registry, 'rrpc_calls_total', 'success')).toBe(1);
    expect(await metricValue(registry, 'rrpc_calls_total', 'rate_limited')).toBe(1);
    expect(await metricValue(registry, 'rrpc_calls_total', 'error')).toBe(1);
  });
});

import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { labelChildren } from './label-children.js';

describe('labelChildren', () => {
  it('makes each label child once and counts into the metric', async () => {
    const registry = new Registry();
    const counter = new Counter({ name: 'test_total', help: 'test', labelNames: ['result'] as const, registers: [registry] });
    const child = labelChildren(counter);
    expect(child('a')).toBe(child('a'));
    expect(child('a')).not.toBe(child('b'));
    child('a').inc();
    child('a').inc();
    child('b').inc();
    const values = (await registry.getMetricsAsJSON())[0]?.values ?? [];
    expect(values.map((v) => [v.labels['result'], v.value])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });
});

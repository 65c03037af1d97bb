import { describe, expect, it } from 'vitest';
import { aclTopicMatches, evaluateAcl, parseAcl, platformAcl } from './broker-acl.js';

describe('EMQX ACL matching', () => {
  it.each([
    ['a/+', 'a/b', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'b/c', false],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['eq a/+', 'a/+', true],
    ['eq a/+', 'a/b', false],
  ])('rule %s against %s: %s', (rule, topic, expected) => {
    expect(aclTopicMatches(rule, topic)).toBe(expected);
  });

  it('first match wins, and retain=false rules skip retained publishes', () => {
    const rules = [
      { permission: 'allow', action: 'publish', topic: 't/1', retain: false },
      { permission: 'deny', action: 'all', topic: '#' },
    ] as const;
    expect(evaluateAcl([...rules], { action: 'publish', topic: 't/1' })).toBe('allow');
    expect(evaluateAcl([...rules], { action: 'publish', topic: 't/1', retain: true })).toBe('deny');
    expect(evaluateAcl([...rules], { action: 'subscribe', topic: 't/1' })).toBe('deny');
    expect(evaluateAcl([rules[0]], { action: 'subscribe', topic: 't/1' })).toBeUndefined();
  });

  it('parses only well-formed rule lists', () => {
    expect(parseAcl(platformAcl('rrpc'))).toEqual(platformAcl('rrpc'));
    for (const bad of [
      undefined,
      {},
      [{ permission: 'maybe', action: 'all', topic: '#' }],
      [{ permission: 'allow', action: 'all', topic: '' }],
      [{ permission: 'allow', action: 'all', topic: '#', retain: 'no' }],
    ]) {
      expect(parseAcl(bad)).toBeUndefined();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { MAX_TRACKED_FILTER_LENGTH, effectiveFilter, isTrackableFilter, topicMatchesFilter } from './topic-filters.js';

const SYS = '/sys/a1PK/dev-1/rrpc/request/1234567890123';
const EXT = '/ext/rrpc/1234567890123/a1PK/dev-1/user/get';

describe('topicMatchesFilter', () => {
  it.each([
    ['/sys/a1PK/dev-1/rrpc/request/+', SYS, true],
    ['/sys/a1PK/dev-1/#', SYS, true],
    ['/sys/+/+/rrpc/request/+', SYS, true],
    ['#', SYS, true],
    ['/sys/a1PK/dev-1/rrpc/request/#', SYS, true],
    ['/sys/a1PK/dev-1/rrpc/request/1234567890123', SYS, true],
    ['/ext/rrpc/+/a1PK/dev-1/user/get', EXT, true],
    ['/ext/rrpc/#', EXT, true],
    ['/sys/a1PK/dev-1/rrpc/request/+', EXT, false],
    ['/ext/rrpc/+/a1PK/dev-1/user/set', EXT, false],
    ['/ext/rrpc/+/a1PK/dev-1/user', EXT, false],
    ['/sys/a1PK/dev-2/rrpc/request/+', SYS, false],
    ['/sys/a1PK/dev-1/rrpc/request', SYS, false],
    ['/sys/a1PK/dev-1/rrpc/request/+/+', SYS, false],
    ['sys/a1PK/dev-1/rrpc/request/+', SYS, false],
    ['/sys/a1PK/dev-1/#/x', SYS, false],
  ])('%s against %s: %s', (filter, topic, expected) => {
    expect(topicMatchesFilter(filter, topic)).toBe(expected);
  });

  it('lets "#" match the parent level', () => {
    expect(topicMatchesFilter('/sys/a1PK/dev-1/#', '/sys/a1PK/dev-1')).toBe(true);
  });
});

describe('effectiveFilter and isTrackableFilter', () => {
  it('takes off $share/<group>/ and $queue/', () => {
    expect(effectiveFilter('$share/g1//sys/a1PK/dev-1/rrpc/request/+')).toBe('/sys/a1PK/dev-1/rrpc/request/+');
    expect(effectiveFilter('$queue//ext/rrpc/#')).toBe('/ext/rrpc/#');
    expect(effectiveFilter('/sys/a1PK/dev-1/#')).toBe('/sys/a1PK/dev-1/#');
  });

  it('refuses what no MQTT broker accepts, and oversize filters', () => {
    expect(isTrackableFilter('/sys/a1PK/dev-1/rrpc/request/+')).toBe(true);
    expect(isTrackableFilter('#')).toBe(true);
    expect(isTrackableFilter('')).toBe(false);
    expect(isTrackableFilter('/a/#/b')).toBe(false);
    expect(isTrackableFilter('/a/b#')).toBe(false);
    expect(isTrackableFilter('/a/b+/c')).toBe(false);
    expect(isTrackableFilter('/a/\u0000')).toBe(false);
    expect(isTrackableFilter('/' + 'a'.repeat(MAX_TRACKED_FILTER_LENGTH))).toBe(false);
  });
});

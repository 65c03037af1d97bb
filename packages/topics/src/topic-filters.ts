/**
 * MQTT topic filters as devices subscribe to them: limits on what presence keeps, the shared-subscription
 * prefix taken off, and MQTT matching ('+' one level, '#' the rest, last level only). The same matching
 * runs inside call-begin-4.lua (packages/store): topic-filters.test.ts checks this one, test/subscriptions.test.ts both.
 */

/** Most filters presence keeps per device (unsubscribed ones included until they are pushed out). */
export const MAX_TRACKED_FILTERS = 32;
/** Longest filter presence keeps (a request topic is at most ~290 characters). */
export const MAX_TRACKED_FILTER_LENGTH = 512;

/** The filter a subscription applies: `$share/<group>/<filter>` and `$queue/<filter>` are `<filter>`. */
export function effectiveFilter(filter: string): string {
  if (filter.startsWith('$share/')) {
    const slash = filter.indexOf('/', '$share/'.length);
    return slash < 0 ? filter : filter.slice(slash + 1);
  }
  if (filter.startsWith('$queue/')) return filter.slice('$queue/'.length);
  return filter;
}

/** A filter presence can keep: non-empty, bounded, no NUL, '#' only as the whole last level, '+' whole levels. */
export function isTrackableFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > MAX_TRACKED_FILTER_LENGTH || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((level, i) =>
    level.includes('#') ? level === '#' && i === levels.length - 1 : !level.includes('+') || level === '+',
  );
}

/** MQTT matching of a topic name against a filter (the filter's share prefix already taken off). */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return i === f.length - 1;
    if (i >= t.length || (level !== '+' && level !== t[i])) return false;
  }
  return f.length === t.length;
}

/**
 * The per-client ACL that POST /authn/emqx returns on allow (EMQX 5.8's `acl` field of the HTTP
 * authentication response, "new format": permission, action, topic, retain). EMQX checks these rules before
 * every authorization source and stops at the first match, so the last rule denies everything: a device's
 * authorization holds even when the HTTP authorization source (POST /authz/emqx) is unreachable.
 *
 * The rules are the broker-side shape of authorization.ts (deviceMayUse / serviceMayUse), expressed with
 * MQTT wildcards. They are a little wider where a wildcard cannot say "digits only" (message IDs) but never
 * reach another device's topics, and they never allow a retained publish.
 *
 * `evaluateAcl` applies such rules the way EMQX does (first match wins, `eq ` = the filter itself), for the
 * embedded broker of `npm start`.
 */
import type { DeviceRef } from './identifiers.js';
import { RESPONSE_FILTERS, sharedFilter } from './rrpc-topics.js';
import type { BrokerAction } from './authorization.js';

export interface AclRule {
  permission: 'allow' | 'deny';
  action: 'publish' | 'subscribe' | 'all';
  /** An MQTT filter, or `eq <filter>` to match that filter literally. */
  topic: string;
  /** Publish only; false: the rule applies to non-retained messages only. */
  retain?: boolean;
}

const DENY_EVERYTHING: readonly AclRule[] = [
  { permission: 'deny', action: 'all', topic: '#' },
  { permission: 'deny', action: 'all', topic: '$SYS/#' },
];

/**
 * A device's own RRPC topics: subscribe to its request topics, publish its answers, nothing else. The
 * product key and device name come from parseUsername, whose character sets exclude `/`, `+` and `#`.
 */
export function deviceAcl(device: DeviceRef): AclRule[] {
  const { productKey: pk, deviceName: dn } = device;
  return [
    { permission: 'allow', action: 'subscribe', topic: `/sys/${pk}/${dn}/rrpc/request/+` },
    { permission: 'allow', action: 'subscribe', topic: `/ext/rrpc/+/${pk}/${dn}/user/#` },
    { permission: 'allow', action: 'publish', topic: `/sys/${pk}/${dn}/rrpc/response/+`, retain: false },
    { permission: 'allow', action: 'publish', topic: `/ext/rrpc/+/${pk}/${dn}/user/#`, retain: false },
    ...DENY_EVERYTHING,
  ];
}

/**
 * The platform's own clients (api, response-ingest, worker): publish any device's requests, subscribe to
 * the response filters, plain or shared under `shareGroup` (the namespace) — the rules of acl.conf.
 */
export function platformAcl(shareGroup: string): AclRule[] {
  return [
    { permission: 'allow', action: 'publish', topic: '/sys/+/+/rrpc/request/+', retain: false },
    { permission: 'allow', action: 'publish', topic: '/ext/rrpc/#', retain: false },
    ...RESPONSE_FILTERS.flatMap((f): AclRule[] => [
      { permission: 'allow', action: 'subscribe', topic: `eq ${f}` },
      { permission: 'allow', action: 'subscribe', topic: `eq ${sharedFilter(shareGroup, f)}` },
    ]),
    ...DENY_EVERYTHING,
  ];
}

/**
 * EMQX's matching of a rule's filter against a topic (publish) or a subscription filter (subscribe): `+`
 * in the rule matches one level (a `+` of the filter too), `#` the rest; a rule starting with a wildcard
 * does not match `$`-topics. `eq <filter>` matches that exact string only.
 */
export function aclTopicMatches(rule: string, topic: string): boolean {
  if (rule.startsWith('eq ')) return rule.slice(3) === topic;
  const r = rule.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (r[0] === '+' || r[0] === '#')) return false;
  for (let i = 0; i < r.length; i++) {
    const level = r[i];
    if (level === '#') return i === r.length - 1;
    const word = t[i];
    if (word === undefined) return false;
    if (level === '+') {
      if (word === '#') return false;
      continue;
    }
    if (level !== word) return false;
  }
  return r.length === t.length;
}

/** The first matching rule's permission, or undefined when none matches (EMQX then asks the authorization sources). */
export function evaluateAcl(
  rules: readonly AclRule[],
  request: { action: BrokerAction; topic: string; retain?: boolean },
): 'allow' | 'deny' | undefined {
  for (const rule of rules) {
    if (rule.action !== 'all' && rule.action !== request.action) continue;
    if (request.action === 'publish' && rule.retain === false && request.retain === true) continue;
    if (aclTopicMatches(rule.topic, request.topic)) return rule.permission;
  }
  return undefined;
}

/** Reads an `acl` array from an authentication answer; undefined when it is not a list of well-formed rules. */
export function parseAcl(value: unknown): AclRule[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const rules: AclRule[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { permission, action, topic, retain } = item as Record<string, unknown>;
    if (permission !== 'allow' && permission !== 'deny') return undefined;
    if (action !== 'publish' && action !== 'subscribe' && action !== 'all') return undefined;
    if (typeof topic !== 'string' || topic.length === 0) return undefined;
    if (retain !== undefined && typeof retain !== 'boolean') return undefined;
    rules.push({ permission, action, topic, ...(retain !== undefined ? { retain } : {}) });
  }
  return rules;
}

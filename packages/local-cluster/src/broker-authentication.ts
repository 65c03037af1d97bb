/**
 * Authentication and authorization for the embedded broker, done the way EMQX does it in production:
 * every CONNECT is sent to response-ingest's POST /authn/emqx (EMQX 5's HTTP authenticator contract), so
 * there is one verifier; the per-client `acl` the answer carries then decides every publish and subscribe
 * (first matching rule wins; no ACL or no matching rule: refused, as EMQX's `no_match = deny`).
 */
import type { Socket } from 'node:net';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import { evaluateAcl, parseAcl, type AclRule } from '@rrpc/topics';

export interface BrokerAuthenticationOptions {
  /** response-ingest's POST /authn/emqx and the bearer token (RRPC_WEBHOOK_TOKEN). */
  url: string;
  token: string;
  /** Per login (default 5 s, EMQX's request_timeout). */
  timeoutMs?: number;
  onError?: (error: Error) => void;
}

type Hooks = Required<Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>>;

/** CONNACK return codes of MQTT 3.1.1. */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function refused(returnCode: 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

export function brokerAuthentication(options: BrokerAuthenticationOptions): Hooks {
  const acls = new WeakMap<Client, AclRule[]>();
  const ask = async (
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<{ result: string; acl?: AclRule[] }> => {
    const conn = client.conn as Partial<Socket>;
    const res = await fetch(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
      body: JSON.stringify({
        clientid: client.id,
        username: username ?? '',
        password: password?.toString('utf8') ?? '',
        peerhost: conn.remoteAddress?.replace(/^::ffff:/, '') ?? '',
      }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
    });
    // EMQX reads any status but 200/204 as "ignore".
    if (res.status !== 200) return { result: 'ignore' };
    const body = (await res.json()) as { result?: unknown; acl?: unknown };
    const acl = parseAcl(body.acl);
    return { result: typeof body.result === 'string' ? body.result : 'ignore', ...(acl ? { acl } : {}) };
  };
  return {
    authenticate(client, username, password, done) {
      ask(client, username, password).then(
        ({ result, acl }) => {
          if (result === 'allow') {
            if (acl) acls.set(client, acl);
            return done(null, true);
          }
          // "ignore" with no other authenticator in the chain is a refusal, as in EMQX.
          done(
            refused(result === 'deny' ? BAD_USERNAME_OR_PASSWORD : NOT_AUTHORIZED, `login ${result === 'deny' ? 'denied' : 'not decided'}`),
            false,
          );
        },
        (error: Error) => {
          options.onError?.(error);
          done(refused(SERVER_UNAVAILABLE, 'authentication service unavailable'), false);
        },
      );
    },
    authorizePublish(client, packet, callback) {
      // The broker's own messages (client null) are not client publishes.
      if (client === null) return callback(null);
      const decision = evaluateAcl(acls.get(client) ?? [], { action: 'publish', topic: packet.topic, retain: packet.retain });
      callback(decision === 'allow' ? null : new Error('publish not authorized'));
    },
    authorizeSubscribe(client, subscription, callback) {
      const decision = evaluateAcl(acls.get(client) ?? [], { action: 'subscribe', topic: subscription.topic });
      callback(null, decision === 'allow' ? subscription : null);
    },
  };
}

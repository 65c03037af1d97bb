/**
 * rrpc-sim --register API_URL: registers the simulated devices through the api's import route
 * (`POST /v1/devices/import`, at most 10,000 devices a request), each with a new secret of its own, and
 * returns those secrets for the devices to sign their logins with. Devices registered already keep their
 * secret (the route leaves them as they are): they are counted, and need --secrets to log in.
 */
import { generateDeviceSecret } from '@rrpc/crypto';
import { SimulatorOptionError } from './behaviour.js';

export const IMPORT_BATCH = 10_000;

export interface RegisterOptions {
  apiUrl: string;
  apiKey: string;
  productKey: string;
  deviceNames: readonly string[];
  fetch?: typeof fetch;
}

export interface Registration {
  /** The new secret of every device this run asked to register. */
  secrets: Map<string, string>;
  created: number;
  existing: number;
  failed: number;
}

interface ImportAnswer {
  created?: unknown;
  existing?: unknown;
  failed?: unknown;
}

export async function registerDevices(options: RegisterOptions): Promise<Registration> {
  const send = options.fetch ?? fetch;
  const secrets = new Map(options.deviceNames.map((name) => [name, generateDeviceSecret()] as const));
  const entries = [...secrets];
  const result: Registration = { secrets, created: 0, existing: 0, failed: 0 };
  for (let i = 0; i < entries.length; i += IMPORT_BATCH) {
    const devices = entries
      .slice(i, i + IMPORT_BATCH)
      .map(([deviceName, deviceSecret]) => ({ productKey: options.productKey, deviceName, deviceSecret }));
    const res = await send(`${options.apiUrl.replace(/\/$/, '')}/v1/devices/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ devices }),
    });
    if (res.status !== 200) {
      // The api's error body names the problem (codes and messages, never a secret).
      const text = (await res.text()).slice(0, 500);
      throw new SimulatorOptionError(`--register: POST /v1/devices/import answered ${res.status}: ${text}`);
    }
    const answer = (await res.json()) as ImportAnswer;
    result.created += typeof answer.created === 'number' ? answer.created : 0;
    result.existing += typeof answer.existing === 'number' ? answer.existing : 0;
    result.failed += Array.isArray(answer.failed) ? answer.failed.length : 0;
  }
  return result;
}

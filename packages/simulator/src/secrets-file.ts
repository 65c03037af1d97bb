/**
 * rrpc-sim --secrets FILE: the devices' own secrets, as exported from Alibaba's console or printed by
 * `POST /v1/devices/import`: CSV lines `productKey,deviceName,deviceSecret` (a header line with those
 * names, blank lines and lines starting with `#` are skipped). Only the simulation's product is taken.
 */
import { isDeviceName, isProductKey } from '@rrpc/topics';
import { SimulatorOptionError } from './behaviour.js';

const SECRET = /^[\x21-\x7e]{1,128}$/;

export function parseSecretsCsv(text: string, productKey: string): Map<string, string> {
  const secrets = new Map<string, string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(',').map((f) => f.trim());
    if (i === 0 && fields[0]?.toLowerCase() === 'productkey') continue;
    const [pk, dn, secret] = fields;
    // The line number only: a malformed line may hold a secret, which is never echoed.
    if (fields.length !== 3 || !isProductKey(pk) || !isDeviceName(dn) || secret === undefined || !SECRET.test(secret)) {
      throw new SimulatorOptionError(`--secrets: line ${i + 1} is not "productKey,deviceName,deviceSecret"`);
    }
    if (pk === productKey) secrets.set(dn, secret);
  }
  return secrets;
}

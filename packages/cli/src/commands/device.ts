import { parseArgs } from 'node:util';
import type { Presence } from '@rrpc/client';
import { CONNECTION_HELP, clientFrom, connectionOptions } from '../connection-options.js';
import { EXIT, EXIT_CODES_HELP, UsageError, type ExitCode } from '../exit-codes.js';
import { write, type Io } from '../io.js';

export const DEVICE_HELP = `Usage: rrpc device <productKey> <deviceName> [options]

Prints the device's presence: ONLINE, HALFCONN (disconnected less than one keep-alive ago), OFFLINE,
UNACTIVE (registered, never connected), or "never seen" (not registered). Exits 0 when the device is ONLINE and 3 otherwise, so scripts can test it.

Output:
      --json           print the presence as JSON (null when never seen)

${CONNECTION_HELP}

${EXIT_CODES_HELP}

Example:
  rrpc device a1Product light-01 && echo reachable`;

export async function deviceCommand(args: string[], io: Io): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { ...connectionOptions, json: { type: 'boolean' } },
  });
  if (values.help) {
    await write(io.stdout, `${DEVICE_HELP}\n`);
    return EXIT.OK;
  }
  if (positionals.length !== 2) throw new UsageError(`device needs <productKey> <deviceName>, got ${positionals.length} argument(s)`);
  const [productKey, deviceName] = positionals as [string, string];
  const presence = await clientFrom(values, io).device(productKey, deviceName);
  if (values.json) await write(io.stdout, `${JSON.stringify(presence)}\n`);
  else await write(io.stdout, presence ? describePresence(presence) : `${productKey}/${deviceName}: never seen\n`);
  return presence?.status === 'ONLINE' ? EXIT.OK : EXIT.OFFLINE;
}

function describePresence(p: Presence): string {
  const lines = [`${p.productKey}/${p.deviceName}: ${p.status}`];
  const field = (name: string, value: string | number | Date | undefined) => {
    if (value !== undefined) lines.push(`  ${name.padEnd(21)}${value instanceof Date ? value.toISOString() : value}`);
  };
  field('clientId', p.clientId);
  field('connectedAt', p.connectedAt);
  field('disconnectedAt', p.disconnectedAt);
  field('keepaliveSeconds', p.keepaliveSeconds);
  field('lastDisconnectReason', p.lastDisconnectReason);
  if (p.enabled !== undefined) field('enabled', String(p.enabled));
  field('createdAt', p.createdAt);
  return `${lines.join('\n')}\n`;
}

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Presence, RrpcClient } from '@rrpc/client';
import { CONNECTION_HELP, clientFrom, connectionOptions } from '../connection-options.js';
import { EXIT, EXIT_CODES_HELP, UsageError, type ExitCode } from '../exit-codes.js';
import { readAll, write, type Io } from '../io.js';

export const DEVICES_HELP = `Usage: rrpc devices <subcommand> [arguments] [options]

Manages the device registry (RRPC_DEVICE_REGISTRY=on: only registered, enabled devices can be called).

Subcommands:
  register <productKey> [deviceName] [--secret <s>]
                           register a device; prints its secret (shown only now)
  import <file.csv | ->    register the devices of a CSV file (or stdin) of lines
                           productKey,deviceName,deviceSecret (a header line and # comments are skipped);
                           devices registered already are left as they are
  list <productKey> [--status ONLINE|OFFLINE|HALFCONN|UNACTIVE] [--limit <n>] [--cursor <c>] [--all]
                           list a product's devices, a page at a time (--all: every page)
  disable <productKey> <deviceName>   disable a device (calls answer DEVICE_DISABLED)
  enable <productKey> <deviceName>    enable it again
  rotate <productKey> <deviceName>    replace the secret; prints the new one (the old one stops working)
  delete <productKey> <deviceName>    unregister a device

Output:
      --json           print the API's answer as JSON

${CONNECTION_HELP}

${EXIT_CODES_HELP}

Example:
  rrpc devices import alibaba-export.csv && rrpc devices list a1Product --status UNACTIVE`;

/** Devices per import request (the API takes at most 10,000). */
const IMPORT_CHUNK = 10_000;

export async function devicesCommand(args: string[], io: Io): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...connectionOptions,
      json: { type: 'boolean' },
      secret: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean' },
    },
  });
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    await write(sub === undefined && !values.help ? io.stderr : io.stdout, `${DEVICES_HELP}\n`);
    return values.help ? EXIT.OK : EXIT.USAGE;
  }
  const client = clientFrom(values, io);
  const out = (text: string) => write(io.stdout, text);
  const device = (): [string, string] => {
    if (rest.length !== 2) throw new UsageError(`devices ${sub} needs <productKey> <deviceName>, got ${rest.length} argument(s)`);
    return rest as [string, string];
  };

  switch (sub) {
    case 'register': {
      if (rest.length < 1 || rest.length > 2)
        throw new UsageError(`devices register needs <productKey> [deviceName], got ${rest.length} argument(s)`);
      const created = await client.registerDevice({ productKey: rest[0] as string, deviceName: rest[1], deviceSecret: values.secret });
      if (values.json) await out(`${JSON.stringify(created)}\n`);
      else await out(`${created.productKey}/${created.deviceName}: registered\n  deviceSecret  ${created.deviceSecret}\n`);
      return EXIT.OK;
    }
    case 'import':
      if (rest.length !== 1) throw new UsageError(`devices import needs <file.csv> (or - for stdin), got ${rest.length} argument(s)`);
      return importCsv(client, rest[0] as string, io, values.json === true);
    case 'list': {
      if (rest.length !== 1) throw new UsageError(`devices list needs <productKey>, got ${rest.length} argument(s)`);
      const status = values.status;
      if (status !== undefined && !['ONLINE', 'OFFLINE', 'HALFCONN', 'UNACTIVE'].includes(status))
        throw new UsageError('--status must be ONLINE, OFFLINE, HALFCONN or UNACTIVE');
      const limit = values.limit === undefined ? undefined : Number(values.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000))
        throw new UsageError('--limit must be a whole number from 1 to 1000');
      let cursor = values.cursor;
      for (;;) {
        const page = await client.listDevices(rest[0] as string, { status: status as 'ONLINE' | undefined, limit, cursor });
        if (values.json) await out(`${JSON.stringify(page)}\n`);
        else for (const d of page.devices) await out(`${deviceLine(d)}\n`);
        if (page.nextCursor === null) return EXIT.OK;
        if (!values.all) {
          if (!values.json) await write(io.stderr, `more: --cursor ${page.nextCursor} (or --all)\n`);
          return EXIT.OK;
        }
        cursor = page.nextCursor;
      }
    }
    case 'disable':
    case 'enable': {
      const [pk, dn] = device();
      const view = await client.setDeviceEnabled(pk, dn, sub === 'enable');
      await out(values.json ? `${JSON.stringify(view)}\n` : `${pk}/${dn}: ${sub === 'enable' ? 'enabled' : 'disabled'}\n`);
      return EXIT.OK;
    }
    case 'rotate': {
      const [pk, dn] = device();
      const secret = await client.rotateDeviceSecret(pk, dn);
      await out(values.json ? `${JSON.stringify({ deviceSecret: secret })}\n` : `${pk}/${dn}: new secret\n  deviceSecret  ${secret}\n`);
      return EXIT.OK;
    }
    case 'delete': {
      const [pk, dn] = device();
      await client.deleteDevice(pk, dn);
      if (!values.json) await out(`${pk}/${dn}: deleted\n`);
      return EXIT.OK;
    }
    default:
      throw new UsageError(`unknown devices subcommand ${JSON.stringify(sub)} (register, import, list, disable, enable, rotate, delete)`);
  }
}

function deviceLine(d: Presence): string {
  const enabled = d.enabled === false ? 'disabled' : 'enabled';
  return `${d.deviceName}\t${d.status}\t${enabled}${d.createdAt ? `\t${d.createdAt.toISOString()}` : ''}`;
}

/** One CSV line: productKey,deviceName,deviceSecret (the secret is the rest of the line, so it may hold commas). */
export function parseCsvLine(line: string): { productKey: string; deviceName: string; deviceSecret: string } | undefined {
  const first = line.indexOf(',');
  const second = first < 0 ? -1 : line.indexOf(',', first + 1);
  if (second < 0) return undefined;
  return {
    productKey: line.slice(0, first).trim(),
    deviceName: line.slice(first + 1, second).trim(),
    deviceSecret: line.slice(second + 1).trim(),
  };
}

async function importCsv(client: RrpcClient, file: string, io: Io, json: boolean): Promise<ExitCode> {
  const text = (file === '-' ? await readAll(io.stdin) : await readFile(file)).toString('utf8');
  const entries: Array<{ line: number; device: { productKey: string; deviceName: string; deviceSecret: string } }> = [];
  const bad: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || (i === 0 && /^productkey\s*,\s*devicename\s*,\s*devicesecret$/i.test(line))) return;
    const device = parseCsvLine(line);
    if (device) entries.push({ line: i + 1, device });
    else bad.push(`line ${i + 1}: not productKey,deviceName,deviceSecret`);
  });
  if (bad.length > 0)
    throw new UsageError(`${file}: ${bad.slice(0, 5).join('; ')}${bad.length > 5 ? ` (and ${bad.length - 5} more)` : ''}`);
  let created = 0;
  let existing = 0;
  const failed: Array<{ line: number; code: string; message: string }> = [];
  for (let i = 0; i < entries.length; i += IMPORT_CHUNK) {
    const chunk = entries.slice(i, i + IMPORT_CHUNK);
    const result = await client.importDevices(chunk.map((e) => e.device));
    created += result.created;
    existing += result.existing;
    for (const f of result.failed) failed.push({ line: chunk[f.index]?.line ?? -1, code: f.error.code, message: f.error.message });
  }
  if (json) await write(io.stdout, `${JSON.stringify({ created, existing, failed })}\n`);
  else {
    await write(io.stdout, `created ${created}, existing ${existing}, failed ${failed.length}\n`);
    for (const f of failed) await write(io.stderr, `line ${f.line}: ${f.code}: ${f.message}\n`);
  }
  return failed.length > 0 ? EXIT.OTHER : EXIT.OK;
}

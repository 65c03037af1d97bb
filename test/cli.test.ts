import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@rrpc/testing';
import { API_KEY, startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/** The built `rrpc` command, run as a child process against a running cluster: its output and exit codes. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'packages/cli/bin/rrpc.js');
const PK = 'a1Cli';
let cluster: TestCluster;
let dir: string;
const devices: TestDevice[] = [];

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `rrpc args...` with the cluster's URL and key in the environment unless `env` overrides them. */
function rrpc(args: string[], options: { env?: Record<string, string | undefined>; stdin?: Buffer } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], RRPC_URL: cluster.apis[0]!.url, RRPC_API_KEY: API_KEY, ...options.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { env, encoding: 'buffer', timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr: stderr.toString() });
    });
    child.stdin?.end(options.stdin ?? Buffer.alloc(0));
  });
}

beforeAll(async () => {
  // The child process runs the compiled command: build it (and @rrpc/client) first; a no-op when up to date.
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const build = spawnSync(process.execPath, [tsc, '-b', 'packages/cli'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`building packages/cli failed:\n${build.stdout}${build.stderr}`);
  dir = mkdtempSync(join(tmpdir(), 'rrpc-cli-'));
  cluster = await startCluster();
  devices.push(await startDevice(cluster.mosquitto.url, PK, 'echo-1', ({ payload }) => payload));
  devices.push(await startDevice(cluster.mosquitto.url, PK, 'silent-1', () => undefined));
  devices.push(await startDevice(cluster.mosquitto.url, PK, 'custom-1', ({ topic }) => topic, [`/${PK}/custom-1/user/get`]));
  for (const name of ['echo-1', 'silent-1', 'custom-1']) await cluster.connectDevice(PK, name);
}, 120_000);
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('rrpc call', () => {
  it('prints a text answer and exits 0', async () => {
    const run = await rrpc(['call', PK, 'echo-1', '--data', '{"cmd":"on"}']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.toString()).toBe('{"cmd":"on"}\n');
  });

  it('prints a binary answer as base64, and --raw writes the bytes unchanged', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10]);
    const file = join(dir, 'request.bin');
    writeFileSync(file, bytes);
    const shown = await rrpc(['call', PK, 'echo-1', '--file', file]);
    expect(shown.code).toBe(0);
    expect(shown.stdout.toString()).toBe(`${bytes.toString('base64')}\n`);
    expect(shown.stderr).toContain('base64');
    const raw = await rrpc(['call', PK, 'echo-1', '--file', file, '--raw']);
    expect(raw.code).toBe(0);
    expect(raw.stdout).toEqual(bytes);
  });

  it('reads the request from stdin with --file -', async () => {
    const run = await rrpc(['call', PK, 'echo-1', '--file', '-'], { stdin: Buffer.from('from stdin') });
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe('from stdin\n');
  });

  it('calls on a custom topic and prints JSON with --json', async () => {
    const topic = `/${PK}/custom-1/user/get`;
    const run = await rrpc(['call', PK, 'custom-1', '--data', 'x', '--topic', topic, '--timeout', '3000', '--json']);
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout.toString()) as { messageId: string; durationMs: number; payload: string };
    expect(json.messageId).toMatch(/^[1-9][0-9]+$/);
    expect(Buffer.from(json.payload, 'base64').toString()).toBe(`/ext/rrpc/${json.messageId}${topic}`);
  });

  it('takes --url and --api-key over the environment', async () => {
    const run = await rrpc(['call', PK, 'echo-1', '--data', 'flags', '--url', cluster.apis[0]!.url, '--api-key', API_KEY], {
      env: { RRPC_URL: 'http://127.0.0.1:1', RRPC_API_KEY: 'wrong' },
    });
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe('flags\n');
  });

  it('exits 3 when the device is offline', async () => {
    await cluster.devices.register([{ productKey: PK, deviceName: 'offline-1' }]);
    const run = await rrpc(['call', PK, 'offline-1', '--data', 'x']);
    expect(run.code).toBe(3);
    expect(run.stdout.length).toBe(0);
    expect(run.stderr).toContain('offline (OFFLINE)');
  });

  it('exits 4 when the device does not answer in time, naming the message ID', async () => {
    const run = await rrpc(['call', PK, 'silent-1', '--data', 'x', '--timeout', '1000']);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/TIMEOUT, message ID [1-9][0-9]+/);
  });

  it('exits 2 for bad arguments, before or after asking the API', async () => {
    const cases: string[][] = [
      ['call', PK],
      ['call', PK, 'echo-1', '--bogus'],
      ['call', PK, 'echo-1', '--timeout', 'soon'],
      ['call', PK, 'echo-1', '--timeout', '10'], // refused by the API: 1000-60000
      ['call', PK, 'echo-1', '--data', 'x', '--file', 'y'],
      ['call', PK, 'echo-1', '--file', join(dir, 'missing.bin')],
      ['call', PK, 'echo-1', '--topic', '/elsewhere/dev/user/x'],
      ['call', PK, 'no spaces allowed'],
      ['launch'],
      [],
    ];
    for (const args of cases) {
      const run = await rrpc(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).not.toBe('');
    }
  });

  it('exits 6 for a wrong API key and for none', async () => {
    for (const key of ['wrong-key', undefined]) {
      const run = await rrpc(['call', PK, 'echo-1', '--data', 'x'], { env: { RRPC_API_KEY: key } });
      expect(run.code, String(key)).toBe(6);
      expect(run.stderr).toContain('RRPC_API_KEY');
    }
  });

  it('exits 5 when the API cannot be reached', async () => {
    const run = await rrpc(['call', PK, 'echo-1', '--data', 'x'], { env: { RRPC_URL: `http://127.0.0.1:${await freePort()}` } });
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('Cannot reach the RRPC API');
  });
});

describe('rrpc device and rrpc outcome', () => {
  it('prints presence; exits 0 when ONLINE and 3 when never seen', async () => {
    const online = await rrpc(['device', PK, 'echo-1']);
    expect(online.code).toBe(0);
    expect(online.stdout.toString()).toMatch(new RegExp(`^${PK}/echo-1: ONLINE\\n  clientId `));
    const json = await rrpc(['device', PK, 'echo-1', '--json']);
    expect(JSON.parse(json.stdout.toString())).toMatchObject({ productKey: PK, deviceName: 'echo-1', status: 'ONLINE' });
    const never = await rrpc(['device', PK, 'never-seen']);
    expect(never.code).toBe(3);
    expect(never.stdout.toString()).toBe(`${PK}/never-seen: never seen\n`);
  });

  it('prints the stored outcome of a call; exits 1 for an unknown message ID', async () => {
    const call = await rrpc(['call', PK, 'echo-1', '--data', 'keep', '--json']);
    const { messageId } = JSON.parse(call.stdout.toString()) as { messageId: string };
    const found = await rrpc(['outcome', messageId]);
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout.toString())).toMatchObject({
      messageId,
      rrpcCode: 'SUCCESS',
      payload: Buffer.from('keep').toString('base64'),
    });
    const unknown = await rrpc(['outcome', '1234567890123456789']);
    expect(unknown.code).toBe(1);
  });
});

describe('rrpc devices', () => {
  const RK = 'a1CliReg';
  it('register prints the new secret; list, disable, enable, rotate and delete manage the device', async () => {
    const reg = await rrpc(['devices', 'register', RK, 'reg-1']);
    expect(reg.code).toBe(0);
    const secret = /deviceSecret {2}([A-Za-z0-9]{32})\n/.exec(reg.stdout.toString())?.[1];
    expect(reg.stdout.toString()).toMatch(new RegExp(`^${RK}/reg-1: registered\n`));
    expect(secret).toBeDefined();
    const given = await rrpc(['devices', 'register', RK, 'reg-2', '--secret', 'given-secret-0123456789', '--json']);
    expect(JSON.parse(given.stdout.toString())).toMatchObject({
      productKey: RK,
      deviceName: 'reg-2',
      deviceSecret: 'given-secret-0123456789',
      enabled: true,
    });
    const again = await rrpc(['devices', 'register', RK, 'reg-1']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('DEVICE_EXISTS');
    const list = await rrpc(['devices', 'list', RK]);
    expect(list.code).toBe(0);
    expect(
      list.stdout
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t').slice(0, 3).join(' ')),
    ).toEqual(['reg-1 UNACTIVE enabled', 'reg-2 UNACTIVE enabled']);
    expect((await rrpc(['devices', 'disable', RK, 'reg-1'])).stdout.toString()).toBe(`${RK}/reg-1: disabled\n`);
    expect((await rrpc(['devices', 'list', RK, '--status', 'UNACTIVE', '--limit', '1'])).stderr).toContain('more: --cursor reg-1');
    expect((await rrpc(['devices', 'list', RK, '--all', '--limit', '1'])).stdout.toString()).toMatch(
      /^reg-1\tUNACTIVE\tdisabled\t.*\nreg-2\tUNACTIVE\tenabled\t/,
    );
    await cluster.connectDevice(RK, 'reg-1');
    const refused = await rrpc(['call', RK, 'reg-1', '--data', 'x']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('DEVICE_DISABLED');
    expect((await rrpc(['devices', 'enable', RK, 'reg-1'])).code).toBe(0);
    const rotated = await rrpc(['devices', 'rotate', RK, 'reg-1', '--json']);
    const fresh = (JSON.parse(rotated.stdout.toString()) as { deviceSecret: string }).deviceSecret;
    expect(fresh).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(fresh).not.toBe(secret);
    expect((await rrpc(['devices', 'delete', RK, 'reg-1'])).stdout.toString()).toBe(`${RK}/reg-1: deleted\n`);
    const gone = await rrpc(['devices', 'delete', RK, 'reg-1']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('DEVICE_NOT_FOUND');
    expect((await rrpc(['devices', 'list', RK, '--status', 'ASLEEP'])).code).toBe(2);
    expect((await rrpc(['devices', 'fly', RK])).code).toBe(2);
  });

  it('import reads productKey,deviceName,deviceSecret CSV (file or stdin) and reports bad lines by line number', async () => {
    const csv = join(dir, 'devices.csv');
    writeFileSync(
      csv,
      [
        'productKey,deviceName,deviceSecret',
        `${RK},imp-1,secret-imp-1-0123456`,
        '# a comment',
        '',
        `${RK},imp-2,has,commas,0123456789`,
        `${RK},imp-3,short`,
      ].join('\n') + '\n',
    );
    const run = await rrpc(['devices', 'import', csv]);
    expect(run.code).toBe(1);
    expect(run.stdout.toString()).toBe('created 2, existing 0, failed 1\n');
    expect(run.stderr).toMatch(/^line 6: INVALID_ARGUMENT: /m);
    const fromStdin = await rrpc(['devices', 'import', '-', '--json'], {
      stdin: Buffer.from(`${RK},imp-1,secret-imp-1-0123456\n${RK},imp-4,secret-imp-4-0123456\n`),
    });
    expect(fromStdin.code).toBe(0);
    expect(JSON.parse(fromStdin.stdout.toString())).toEqual({ created: 1, existing: 1, failed: [] });
    expect((await cluster.devices.registry.credentials({ productKey: RK, deviceName: 'imp-2' }))?.secret).toBe('has,commas,0123456789');
    const broken = join(dir, 'broken.csv');
    writeFileSync(broken, `${RK};imp-9;secret\n`);
    const bad = await rrpc(['devices', 'import', broken]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('line 1: not productKey,deviceName,deviceSecret');
  });
});

describe('--help', () => {
  it('is on every command, exits 0 and documents the exit codes', async () => {
    for (const args of [['--help'], ['call', '--help'], ['device', '-h'], ['outcome', '--help'], ['help', 'call']]) {
      const run = await rrpc(args, { env: { RRPC_URL: undefined, RRPC_API_KEY: undefined } });
      expect(run.code, args.join(' ')).toBe(0);
      const text = run.stdout.toString();
      expect(text, args.join(' ')).toMatch(/^Usage: rrpc /);
      for (const line of ['3  the device is offline', '4  the device did not answer in time', '6  the API key'])
        expect(text).toContain(line);
    }
  });
});

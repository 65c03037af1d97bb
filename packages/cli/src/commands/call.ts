import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CONNECTION_HELP, clientFrom, connectionOptions } from '../connection-options.js';
import { EXIT, EXIT_CODES_HELP, UsageError, type ExitCode } from '../exit-codes.js';
import { readAll, write, type Io } from '../io.js';
import { renderPayload } from '../render-payload.js';

export const CALL_HELP = `Usage: rrpc call <productKey> <deviceName> [--data <text> | --file <path>] [options]

Sends a request to the device and prints its answer: as text when the answer is printable UTF-8,
otherwise as base64 (with a note on stderr). With --raw the answer's bytes go to stdout unchanged.

Request:
  -d, --data <text>    the request: JSON or any text, sent as its UTF-8 bytes
  -f, --file <path>    the request: the bytes of a file ("-" reads stdin)
                       (neither: an empty request)
  -t, --timeout <ms>   how long the device may take to answer, 1000-60000 (default 8000)
      --topic <topic>  a custom topic /<productKey>/<deviceName>/user/... (default: the system RRPC topic)

Output:
      --raw            write the answer's bytes to stdout as they are
      --json           print {"messageId","durationMs","payload"(base64)} as JSON
  -v, --verbose        also print the message ID and the duration on stderr

${CONNECTION_HELP}

${EXIT_CODES_HELP}

Examples:
  rrpc call a1Product light-01 --data '{"cmd":"on"}'
  rrpc call a1Product light-01 --file request.bin --raw > answer.bin
  rrpc call a1Product light-01 --data ping --topic /a1Product/light-01/user/ping --timeout 3000`;

export async function callCommand(args: string[], io: Io): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...connectionOptions,
      data: { type: 'string', short: 'd' },
      file: { type: 'string', short: 'f' },
      timeout: { type: 'string', short: 't' },
      topic: { type: 'string' },
      raw: { type: 'boolean' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) {
    await write(io.stdout, `${CALL_HELP}\n`);
    return EXIT.OK;
  }
  if (positionals.length !== 2) throw new UsageError(`call needs <productKey> <deviceName>, got ${positionals.length} argument(s)`);
  const [productKey, deviceName] = positionals as [string, string];
  if (values.data !== undefined && values.file !== undefined) throw new UsageError('give --data or --file, not both');
  if (values.raw && values.json) throw new UsageError('give --raw or --json, not both');
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    if (!/^\d+$/.test(values.timeout)) throw new UsageError(`--timeout must be whole milliseconds, not ${JSON.stringify(values.timeout)}`);
    timeoutMs = Number(values.timeout);
  }
  const payload = values.file !== undefined ? await readRequestFile(values.file, io) : Buffer.from(values.data ?? '', 'utf8');

  const client = clientFrom(values, io);
  const result = await client.call({ productKey, deviceName, payload, timeoutMs, topic: values.topic });

  if (values.verbose) await write(io.stderr, `messageId ${result.messageId}, ${result.durationMs} ms, ${result.payload.length} bytes\n`);
  if (values.raw) {
    await write(io.stdout, result.payload);
  } else if (values.json) {
    const json = { messageId: result.messageId, durationMs: result.durationMs, payload: result.payload.toString('base64') };
    await write(io.stdout, `${JSON.stringify(json)}\n`);
  } else {
    const shown = renderPayload(result.payload);
    if (shown.kind === 'base64')
      await write(io.stderr, `(the answer is ${result.payload.length} bytes of binary, shown as base64; --raw writes the bytes)\n`);
    await write(io.stdout, shown.text.endsWith('\n') ? shown.text : `${shown.text}\n`);
  }
  return EXIT.OK;
}

async function readRequestFile(path: string, io: Io): Promise<Buffer> {
  if (path === '-') return readAll(io.stdin);
  try {
    return await readFile(path);
  } catch (error) {
    throw new UsageError(`cannot read --file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

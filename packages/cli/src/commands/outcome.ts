import { parseArgs } from 'node:util';
import { CONNECTION_HELP, clientFrom, connectionOptions } from '../connection-options.js';
import { EXIT, EXIT_CODES_HELP, UsageError, type ExitCode } from '../exit-codes.js';
import { write, type Io } from '../io.js';

export const OUTCOME_HELP = `Usage: rrpc outcome <messageId> [options]

Prints the stored outcome of a call (PENDING, SUCCESS or TIMEOUT, and the answer's bytes in base64)
as JSON. Outcomes are kept for a limited time; an unknown message ID exits 1.

${CONNECTION_HELP}

${EXIT_CODES_HELP}

Example:
  rrpc outcome 1839204856102938471`;

export async function outcomeCommand(args: string[], io: Io): Promise<ExitCode> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: connectionOptions });
  if (values.help) {
    await write(io.stdout, `${OUTCOME_HELP}\n`);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(`outcome needs <messageId>, got ${positionals.length} argument(s)`);
  const messageId = positionals[0] as string;
  const outcome = await clientFrom(values, io).outcome(messageId);
  if (!outcome) {
    await write(io.stderr, `rrpc: no call ${messageId} is known (never made, or its outcome has expired)\n`);
    return EXIT.OTHER;
  }
  const json = { ...outcome, payload: outcome.payload?.toString('base64') };
  await write(io.stdout, `${JSON.stringify(json, null, 2)}\n`);
  return EXIT.OK;
}

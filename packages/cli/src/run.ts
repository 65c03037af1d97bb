import { RrpcClientError, DeviceTimeoutError, DeviceOfflineError, UnauthenticatedError } from '@rrpc/client';
import { callCommand } from './commands/call.js';
import { deviceCommand } from './commands/device.js';
import { devicesCommand } from './commands/devices.js';
import { outcomeCommand } from './commands/outcome.js';
import { CONNECTION_HELP } from './connection-options.js';
import { EXIT, EXIT_CODES_HELP, UsageError, exitCodeFor, type ExitCode } from './exit-codes.js';
import { write, type Io } from './io.js';

export const MAIN_HELP = `Usage: rrpc <command> [arguments] [options]

Calls RRPC devices through an RRPC cluster's HTTP API.

Commands:
  call <productKey> <deviceName>    send a request to a device and print its answer
  device <productKey> <deviceName>  print a device's presence
  devices <subcommand>              manage the device registry: register, import, list, disable,
                                    enable, rotate, delete
  outcome <messageId>               print the stored outcome of a call
  help [command]                    show help for a command

Run "rrpc <command> --help" for a command's options.

${CONNECTION_HELP}

${EXIT_CODES_HELP}`;

const COMMANDS: Record<string, (args: string[], io: Io) => Promise<ExitCode>> = {
  call: callCommand,
  device: deviceCommand,
  devices: devicesCommand,
  outcome: outcomeCommand,
};

/** Runs one command line (without "node rrpc"); resolves with the process exit code. */
export async function run(argv: string[], io: Io): Promise<ExitCode> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') {
    await write(first === undefined ? io.stderr : io.stdout, `${MAIN_HELP}\n`);
    return first === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (first === 'help') {
    const topic = rest[0];
    if (topic !== undefined && COMMANDS[topic]) return COMMANDS[topic](['--help'], io);
    await write(io.stdout, `${MAIN_HELP}\n`);
    return EXIT.OK;
  }
  const command = COMMANDS[first];
  if (!command) {
    await write(io.stderr, `rrpc: unknown command ${JSON.stringify(first)}\nRun "rrpc --help" for the commands.\n`);
    return EXIT.USAGE;
  }
  try {
    return await command(rest, io);
  } catch (error) {
    await write(io.stderr, `rrpc: ${describeError(error, first)}\n`);
    return exitCodeFor(isParseArgsError(error) ? new UsageError(String(error)) : error);
  }
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

function describeError(error: unknown, command: string): string {
  if (error instanceof UsageError || isParseArgsError(error)) {
    return `${(error as Error).message}\nRun "rrpc ${command} --help" for usage.`;
  }
  if (error instanceof DeviceOfflineError) return `the device is offline (${error.rrpcCode}): ${error.message}`;
  if (error instanceof DeviceTimeoutError)
    return `the device did not answer in time (TIMEOUT, message ID ${error.messageId}): ${error.message}`;
  if (error instanceof UnauthenticatedError) return `${error.message} Give one with --api-key or RRPC_API_KEY.`;
  if (error instanceof RrpcClientError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

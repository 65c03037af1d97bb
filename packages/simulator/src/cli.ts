/** rrpc-sim: runs a simulation from the command line until Ctrl-C (or --duration), printing counters. */
import { SimulatorOptionError } from './behaviour.js';
import { HELP, parseCliOptions, type CliOptions } from './cli-options.js';
import { formatStats } from './format-stats.js';
import { readFileSync } from 'node:fs';
import { parseSecretsCsv } from './secrets-file.js';
import { registerDevices } from './register-devices.js';
import { simulatedDeviceNames, startSimulation, type Simulation } from './simulation.js';

function fail(message: string, code: number): never {
  process.stderr.write(`rrpc-sim: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  let cli: CliOptions;
  try {
    cli = parseCliOptions(argv);
  } catch (error) {
    if (error instanceof SimulatorOptionError) fail(`${error.message}\n(rrpc-sim --help lists the options)`, 2);
    throw error;
  }
  if (cli.help) {
    process.stdout.write(HELP);
    return;
  }
  const o = cli.simulation;
  if (cli.secretsFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(cli.secretsFile, 'utf8');
    } catch (error) {
      fail(`--secrets: cannot read ${cli.secretsFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 2);
    }
    try {
      o.deviceSecrets = parseSecretsCsv(text, o.productKey);
    } catch (error) {
      if (error instanceof SimulatorOptionError) fail(error.message, 2);
      throw error;
    }
  }
  if (cli.register) {
    const names = simulatedDeviceNames(o.prefix ?? 'sim-', o.devices, o.firstIndex ?? 1);
    try {
      const r = await registerDevices({ ...cli.register, productKey: o.productKey, deviceNames: names });
      o.deviceSecrets = new Map([...r.secrets, ...(o.deviceSecrets ?? new Map<string, string>())]);
      process.stdout.write(
        `rrpc-sim: registered ${r.created} devices at ${cli.register.apiUrl}; ${r.existing} were registered already (they keep their secrets: give them with --secrets), ${r.failed} failed\n`,
      );
    } catch (error) {
      if (error instanceof SimulatorOptionError) fail(error.message, 1);
      fail(`--register: ${error instanceof Error ? error.message : String(error)}`, 1);
    }
  }
  let errorsShown = 0;
  process.stdout.write(`rrpc-sim: connecting ${o.devices} devices of product ${o.productKey} to ${o.url} at ${o.connectRate} per second\n`);
  let simulation: Simulation;
  try {
    simulation = await startSimulation({
      ...o,
      onError: (error, deviceName) => {
        // Show the first few; the counters tell the rest.
        if (errorsShown++ < 5) process.stderr.write(`rrpc-sim: ${deviceName}: ${error.message}\n`);
      },
    });
  } catch (error) {
    if (error instanceof SimulatorOptionError) fail(`${error.message}\n(rrpc-sim --help lists the options)`, 2);
    throw error;
  }
  const first = simulation.stats();
  if (first.connected === 0) {
    await simulation.stop();
    fail(`no device could connect to ${o.url}`, 1);
  }
  const names = simulation.devices.map((d) => d.deviceName);
  process.stdout.write(
    `rrpc-sim: ${first.connected} of ${first.devices} devices online (${names[0]}${names.length > 1 ? ` .. ${names[names.length - 1]}` : ''})\n`,
  );

  const statsTimer =
    cli.statsIntervalSeconds > 0
      ? setInterval(() => process.stdout.write(`rrpc-sim: ${formatStats(simulation.stats())}\n`), cli.statsIntervalSeconds * 1000)
      : undefined;
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    if (statsTimer) clearInterval(statsTimer);
    process.stdout.write(`rrpc-sim: ${why}: disconnecting\n`);
    await simulation.stop();
    process.stdout.write(`rrpc-sim: stopped. ${formatStats(simulation.stats())}\n`);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  if (cli.durationSeconds !== undefined) setTimeout(() => void stop(`${cli.durationSeconds} s elapsed`), cli.durationSeconds * 1000);
}

main(process.argv.slice(2)).catch((error: unknown) => fail(error instanceof Error ? (error.stack ?? error.message) : String(error), 1));

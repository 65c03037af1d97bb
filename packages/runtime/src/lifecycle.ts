import type { Server } from 'node:http';
import type { Logger } from 'pino';

/** Listens and resolves with the bound port (PORT=0 picks a free one). */
export function listen(server: Server, port: number, host = '0.0.0.0'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * Stops listening and closes keep-alive connections as they go idle (answers still being written finish
 * first); whatever is still open after `graceMs` is cut.
 */
export function closeServer(server: Server, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Runs `service.stop()` on SIGTERM/SIGINT and exits 0 when it finishes (1 if it fails or takes longer
 * than `graceMs`). A second signal exits at once.
 */
export function exitOnSignals(service: Stoppable, logger: Logger, graceMs: number): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    service.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Prints a start-up failure (bad configuration, unreachable dependency) plainly and exits 1. */
export function failStart(service: string, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${service}: cannot start: ${message}\n`);
  process.exit(1);
}

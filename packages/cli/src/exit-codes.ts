import {
  DeviceDisabledError,
  DeviceNotFoundError,
  DeviceOfflineError,
  DeviceTimeoutError,
  InvalidArgumentError,
  NetworkError,
  PayloadTooLargeError,
  RateLimitedError,
  UnauthenticatedError,
  UnavailableError,
  RrpcClientError,
} from '@rrpc/client';

/** The exit codes of every rrpc command; scripts branch on them, so they never change meaning. */
export const EXIT = {
  OK: 0,
  OTHER: 1,
  USAGE: 2,
  OFFLINE: 3,
  TIMEOUT: 4,
  UNAVAILABLE: 5,
  AUTH: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  any other error
  2  usage error or invalid argument (including a payload over the cluster's limit)
  3  the device is offline (OFFLINE or HALFCONN)
  4  the device did not answer in time (TIMEOUT)
  5  the API, Redis or the broker is unavailable, unreachable or rate limiting
  6  the API key is missing or not accepted`;

/** A mistake in the command line itself, found before any request is sent. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError || error instanceof InvalidArgumentError || error instanceof PayloadTooLargeError) return EXIT.USAGE;
  if (error instanceof DeviceOfflineError) return EXIT.OFFLINE;
  if (error instanceof DeviceTimeoutError) return EXIT.TIMEOUT;
  if (error instanceof UnavailableError || error instanceof NetworkError || error instanceof RateLimitedError) return EXIT.UNAVAILABLE;
  if (error instanceof UnauthenticatedError) return EXIT.AUTH;
  // Not registered, or disabled (a 403 that is not about the key): any other error.
  if (error instanceof DeviceNotFoundError || error instanceof DeviceDisabledError) return EXIT.OTHER;
  if (error instanceof RrpcClientError && (error.code === 'PERMISSION_DENIED' || error.status === 403)) return EXIT.AUTH;
  return EXIT.OTHER;
}

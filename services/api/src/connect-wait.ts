import type { CallOutcome } from '@rrpc/caller';
import type { PresenceEvents } from '@rrpc/store';
import type { CallRunner } from './call-runner.js';

/**
 * `connectTimeoutMs`: a call to an offline device waits up to that long for the device's presence event and
 * is then tried again. It sits inside the metering, the in-flight caps and the key's rate limit, so one
 * HTTP call is one metered call (one outcome label), takes one token of the key's rate, counts as in flight
 * while it waits, and its durationMs covers every attempt and the waits between them.
 */
export function connectWaitingCalls(run: CallRunner, presenceEvents: () => PresenceEvents | undefined): CallRunner {
  return (request, principal) => {
    const connectTimeoutMs = request.connectTimeoutMs ?? 0;
    const events = connectTimeoutMs > 0 ? presenceEvents() : undefined;
    if (events === undefined) return run(request, principal);
    return (async (): Promise<CallOutcome> => {
      const started = performance.now();
      await events.start(); // subscribed before the first presence check, so no connect event is missed
      const watch = events.watch(request.device);
      const until = Date.now() + connectTimeoutMs;
      try {
        for (;;) {
          const outcome = await run(request, principal);
          // Not subscribed (RRPC_TRACK_SUBSCRIPTIONS) waits like offline: a subscription event wakes the watch too.
          const offline = outcome.rrpcCode === 'OFFLINE' || outcome.rrpcCode === 'HALFCONN' || outcome.rrpcCode === 'NOT_SUBSCRIBED';
          const left = until - Date.now();
          if (!offline || left <= 0 || !(await watch.wait(left))) return { ...outcome, durationMs: performance.now() - started };
        }
      } finally {
        watch.cancel();
      }
    })();
  };
}

/**
 * A steady, bounded load of calls: `rate` calls a second, spread round-robin over the api pods and the
 * devices, each recorded with its pod, start, end and outcome code. Never more than `maxOutstanding`
 * at once, so a stalled cluster cannot make the load run away.
 */
export interface CallRecord {
  pod: number;
  device: string;
  started: number;
  ended: number;
  status: number;
  /** SUCCESS, TIMEOUT, OFFLINE..., the error code (UNAVAILABLE, RATE_LIMITED...), or CONNECTION (no HTTP answer). */
  code: string;
  messageId?: string;
  payload?: string;
}

export interface LoadOptions {
  pods: () => string[];
  productKey: string;
  devices: string[];
  apiKey: string;
  rate: number;
  timeoutMs: number;
  maxOutstanding?: number;
}

export interface Load {
  readonly records: CallRecord[];
  /** Calls started before `t` and not yet ended at `t` (optionally only one pod's). */
  inFlightAt(t: number, pod?: number): number;
  stop(): Promise<CallRecord[]>;
}

export function startLoad(options: LoadOptions): Load {
  const records: CallRecord[] = [];
  const outstanding = new Set<Promise<void>>();
  const open = new Map<number, { pod: number; started: number }>();
  let seq = 0; // calls made
  let stopped = false;
  const began = performance.now();

  const one = async (n: number) => {
    const pods = options.pods();
    const pod = n % pods.length;
    const device = options.devices[n % options.devices.length]!;
    const payload = Buffer.from(`call-${n}`).toString('base64');
    const started = Date.now();
    open.set(n, { pod, started });
    let record: CallRecord;
    try {
      const res = await fetch(`${pods[pod]}/v1/devices/${options.productKey}/${device}/rrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
        body: JSON.stringify({ payload, timeoutMs: options.timeoutMs }),
        signal: AbortSignal.timeout(options.timeoutMs + 10_000),
      });
      const body = (await res.json()) as { rrpcCode?: string; messageId?: string; payload?: string; error?: { code: string } };
      const code =
        res.status === 200
          ? 'SUCCESS'
          : res.status === 504 || res.status === 404
            ? (body.rrpcCode ?? body.error?.code ?? 'UNKNOWN')
            : (body.error?.code ?? `HTTP_${res.status}`);
      record = {
        pod,
        device,
        started,
        ended: Date.now(),
        status: res.status,
        code,
        ...(body.messageId ? { messageId: body.messageId } : {}),
        ...(body.payload ? { payload: body.payload } : {}),
      };
      if (code === 'SUCCESS' && body.payload !== payload) record.code = 'WRONG_ANSWER';
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
      record = { pod, device, started, ended: Date.now(), status: 0, code: timedOut ? 'HUNG' : 'CONNECTION' };
    }
    open.delete(n);
    records.push(record);
  };

  const max = options.maxOutstanding ?? 500;
  let scheduled = 0;
  const tick = setInterval(() => {
    if (stopped) return;
    // Keep to the schedule (rate × elapsed) without bursts: a late tick skips the calls it missed rather
    // than sending them all at once, and never more than `max` calls are outstanding.
    const due = Math.floor(((performance.now() - began) / 1000) * options.rate);
    let burst = Math.ceil(options.rate / 50);
    while (scheduled < due && burst-- > 0 && outstanding.size < max) {
      scheduled++;
      const p = one(seq++).finally(() => outstanding.delete(p));
      outstanding.add(p);
    }
    scheduled = due;
  }, 5);

  return {
    records,
    inFlightAt(t, pod) {
      let n = 0;
      for (const r of records) if (r.started <= t && r.ended > t && (pod === undefined || r.pod === pod)) n++;
      for (const o of open.values()) if (o.started <= t && (pod === undefined || o.pod === pod)) n++;
      return n;
    },
    async stop() {
      stopped = true;
      clearInterval(tick);
      while (outstanding.size > 0) await Promise.allSettled([...outstanding]);
      return records;
    },
  };
}

export interface ScenarioFigures {
  scenario: string;
  calls: number;
  succeeded: number;
  failed: Record<string, number>;
  /** ms from the end of the fault to the first call after which every call succeeded; undefined: never. */
  recoveryMs: number | undefined;
  notes?: string;
}

export function figures(scenario: string, records: CallRecord[], faultEnd: number, notes?: string): ScenarioFigures {
  const failed: Record<string, number> = {};
  for (const r of records) if (r.code !== 'SUCCESS') failed[r.code] = (failed[r.code] ?? 0) + 1;
  const byStart = [...records].sort((a, b) => a.started - b.started);
  let lastFailure = -1;
  byStart.forEach((r, i) => {
    if (r.code !== 'SUCCESS') lastFailure = i;
  });
  const steady = byStart[lastFailure + 1];
  const recoveryMs = lastFailure < 0 ? 0 : steady === undefined ? undefined : Math.max(0, steady.started - faultEnd);
  return {
    scenario,
    calls: records.length,
    succeeded: records.length - Object.values(failed).reduce((a, b) => a + b, 0),
    failed,
    recoveryMs,
    ...(notes ? { notes } : {}),
  };
}

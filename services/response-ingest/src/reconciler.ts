import type { IngestMetrics } from '@rrpc/metrics';
import type { Logger } from '@rrpc/runtime';
import { RECONCILED_REASON, type PresenceStore, type ReconcileStore } from '@rrpc/store';
import { effectiveFilter, isTrackableFilter, parseUsername, type DeviceRef } from '@rrpc/topics';
import type { EmqxApi, EmqxClient } from './emqx-api.js';

export type CorrectionKind = 'offline' | 'online' | 'subscriptions';

export interface ReconcilerOptions {
  api: EmqxApi;
  presence: PresenceStore;
  store: ReconcileStore;
  metrics: IngestMetrics;
  logger: Logger;
  instanceId: string;
  /** RRPC_RECONCILE_INTERVAL_MS: one sweep tick (one lease) this often. */
  intervalMs: number;
  /** How often the reported timeouts are drained (default 1000 ms). */
  timeoutCheckMs?: number;
}

/** Bounded work per tick: presence records scanned, devices checked against the broker, broker clients read. */
const SCAN_COUNT = 200;
const CHECKS_PER_TICK = 100;
const CLIENTS_PAGE = 100;
const TIMEOUTS_PER_DRAIN = 50;

/**
 * Reconciles presence with the broker (EMQX 5 REST API), because webhooks get lost: a device whose call
 * timed out while it was marked ONLINE is checked at once, and a sweep (one replica at a time, by lease)
 * walks the presence records page by page (a lost disconnect: ONLINE here, gone there) and the broker's
 * clients page by page (a lost connect, lost subscriptions). Every correction is counted and logged.
 */
export class PresenceReconciler {
  private timers: NodeJS.Timeout[] = [];
  private clientsPage = 1;
  private running = false;

  constructor(private readonly options: ReconcilerOptions) {}

  start(): void {
    const tick = (work: () => Promise<unknown>, ms: number) => {
      const timer = setInterval(() => {
        void work().catch((err: unknown) => this.options.logger.warn({ err }, 'presence reconciliation failed; trying again next tick'));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    tick(() => this.drainTimeouts(), this.options.timeoutCheckMs ?? 1000);
    tick(() => this.sweep(), this.options.intervalMs);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private corrected(kind: CorrectionKind, device: DeviceRef, detail: Record<string, unknown>): void {
    this.options.metrics.presenceCorrectionsTotal.labels(kind).inc();
    this.options.logger.info(
      { productKey: device.productKey, deviceName: device.deviceName, kind, ...detail },
      'presence corrected from the broker',
    );
  }

  /** Devices whose calls timed out: checked against the broker now. */
  async drainTimeouts(): Promise<number> {
    const devices = await this.options.store.takeTimeouts(TIMEOUTS_PER_DRAIN);
    for (const device of devices) await this.check(device, 'timeout');
    return devices.length;
  }

  /** One sweep tick, if this replica holds the lease: one page of presence records and one page of broker clients. */
  async sweep(): Promise<boolean> {
    if (this.running) return false;
    this.running = true;
    try {
      if (!(await this.options.store.acquireLease(this.options.instanceId, Math.max(1000, this.options.intervalMs - 100)))) return false;
      const { devices } = await this.options.store.presencePage(SCAN_COUNT);
      for (const device of devices.slice(0, CHECKS_PER_TICK)) await this.check(device, 'sweep');
      const page = await this.options.api.clients(this.clientsPage, CLIENTS_PAGE);
      for (const c of page.clients) await this.adopt(c);
      this.clientsPage = page.hasNext ? this.clientsPage + 1 : 1;
      return true;
    } finally {
      this.running = false;
    }
  }

  /** A device marked ONLINE: is its session still on the broker, with the filters on record? */
  async check(device: DeviceRef, why: 'timeout' | 'sweep'): Promise<CorrectionKind[]> {
    const { presence, api } = this.options;
    const view = await presence.get(device);
    if (view?.status !== 'ONLINE' || view.clientId === undefined) return [];
    const client = await api.client(view.clientId);
    if (!client || !client.connected) {
      const result = await presence.disconnected({
        device,
        clientId: view.clientId,
        disconnectedAt: Date.now(),
        connectedAt: view.connectedAt,
        reason: RECONCILED_REASON,
      });
      if (result !== 'offline') return [];
      this.corrected('offline', device, { why, clientId: view.clientId });
      return ['offline'];
    }
    return (await this.syncSubscriptions(device, view.clientId, view.subscriptions, why)) ? ['subscriptions'] : [];
  }

  /** A client the broker has: a device that presence does not show ONLINE with this session is adopted. */
  private async adopt(client: EmqxClient): Promise<void> {
    const device = parseUsername(client.username);
    if (!device || !client.connected || client.connectedAt === undefined) return;
    const view = await this.options.presence.get(device);
    if (view?.status === 'ONLINE' && (view.clientId === client.clientid || (view.connectedAt ?? 0) >= client.connectedAt)) return;
    const result = await this.options.presence.connected({
      device,
      clientId: client.clientid,
      connectedAt: client.connectedAt,
      keepaliveSeconds: client.keepalive ?? 60,
      cleanStart: client.cleanStart,
    });
    if (result !== 'online') return;
    this.corrected('online', device, { why: 'sweep', clientId: client.clientid });
    await this.syncSubscriptions(device, client.clientid, (await this.options.presence.get(device))?.subscriptions ?? [], 'sweep');
  }

  /** Makes the recorded filters those the broker lists for the session; true when something changed. */
  private async syncSubscriptions(device: DeviceRef, clientId: string, recorded: string[], why: string): Promise<boolean> {
    const broker = new Set((await this.options.api.subscriptions(clientId)).map(effectiveFilter).filter(isTrackableFilter));
    const have = new Set(recorded);
    const at = Date.now();
    const added = [...broker].filter((f) => !have.has(f));
    const removed = [...have].filter((f) => !broker.has(f));
    for (const filter of added) await this.options.presence.subscribed({ device, clientId, at, filter });
    for (const filter of removed) await this.options.presence.unsubscribed({ device, clientId, at, filter });
    if (added.length === 0 && removed.length === 0) return false;
    this.corrected('subscriptions', device, { why, clientId, added, removed });
    return true;
  }
}

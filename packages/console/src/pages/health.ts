import { api, describeError } from '../api.js';
import { h, replace } from '../dom.js';
import type { Page } from '../page.js';

interface PodSummary {
  kind: string;
  instanceId: string;
  seenAt: string;
  callsPerSecond?: number;
  outcomes?: Record<string, number>;
  p50Ms?: number | null;
  p99Ms?: number | null;
  inFlight?: number;
  [metric: string]: unknown;
}
interface Summary {
  pods: PodSummary[];
  grafanaUrl?: string | null;
}

const num = (v: unknown, digits = 1) => (typeof v === 'number' ? v.toFixed(digits) : '–');

/** The cluster as its metrics see it: every api pod, ingest replica and worker that reported in the last seconds. */
export const healthPage: Page = (main, ctx) => {
  const body = h('div', { 'aria-live': 'polite' });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    try {
      const s = (await api<Summary>('GET', '/v1/cluster/summary')).body;
      replace(
        body,
        s.grafanaUrl ? h('p', {}, h('a', { href: s.grafanaUrl, rel: 'noopener' }, 'Open the Grafana dashboard')) : null,
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { 'aria-label': 'Pods' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', {}, 'Kind'),
                h('th', {}, 'Instance'),
                h('th', {}, 'calls/s'),
                h('th', {}, 'p50 ms'),
                h('th', {}, 'p99 ms'),
                h('th', {}, 'in flight'),
                h('th', {}, 'outcomes'),
                h('th', {}, 'seen'),
              ),
            ),
            h(
              'tbody',
              {},
              s.pods.map((p) =>
                h(
                  'tr',
                  { 'data-kind': p.kind },
                  h('td', {}, p.kind),
                  h('td', {}, h('code', {}, p.instanceId)),
                  h('td', {}, num(p.callsPerSecond)),
                  h('td', {}, num(p.p50Ms)),
                  h('td', {}, num(p.p99Ms)),
                  h('td', {}, p.inFlight === undefined ? '–' : String(p.inFlight)),
                  h(
                    'td',
                    {},
                    Object.entries(p.outcomes ?? {})
                      .map(([k, v]) => `${k} ${v}`)
                      .join(', '),
                  ),
                  h('td', {}, p.seenAt.slice(11, 19)),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      ctx.notify(describeError(error));
    }
    timer = setTimeout(() => void tick(), 5000);
  };
  replace(
    main,
    h('h1', {}, 'Health'),
    h('p', { class: 'muted' }, 'Each pod reports its metrics every few seconds; latencies are estimated from the call-duration histogram.'),
    body,
  );
  void tick();
  return () => timer && clearTimeout(timer);
};

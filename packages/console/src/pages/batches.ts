import { api, describeError, enc, session } from '../api.js';
import { field, h, replace, statusBadge } from '../dom.js';
import { PayloadError, encodePayload, fromBase64, text, toBase64 } from '../payload.js';
import type { Page } from '../page.js';

interface BatchView {
  id: string;
  state: string;
  total: number;
  done: number;
  counts: Record<string, number>;
  createdAt: string;
  finishedAt?: string;
}
interface BatchResult {
  index: number;
  productKey: string;
  deviceName: string;
  rrpcCode: string | null;
  payload?: string;
  pending?: boolean;
}

const RESULTS_PAGE = 50;

/** Batches: create one from a device selection, watch its progress, page through per-device results. */
export const batchesPage: Page = (main, ctx) => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const selection: string[] = JSON.parse(sessionStorage.getItem('rrpc.batchSelection') ?? '[]') as string[];
  const devices = h(
    'textarea',
    { id: 'batch-devices', spellcheck: 'false', placeholder: 'productKey/deviceName, one a line' },
    selection.join('\n'),
  );
  const payload = h('input', { id: 'batch-payload', value: 'hello', autocomplete: 'off' });
  const timeout = h('input', { id: 'batch-timeout', type: 'number', min: 1000, max: 60000, value: 5000 });
  const persistent = h('input', { id: 'batch-persistent', type: 'checkbox' });
  const lookupId = h('input', { id: 'batch-id', autocomplete: 'off', value: ctx.params.get('id') ?? '' });
  const view = h('section', { 'aria-live': 'polite', 'aria-label': 'Batch' });

  const watch = (id: string, cursor = 0) => {
    if (timer) clearTimeout(timer);
    const tick = async () => {
      try {
        const batch = (await api<BatchView>('GET', `/v1/rrpc/batches/${enc(id)}`)).body;
        const results = (
          await api<{ results: BatchResult[]; nextCursor: string | null }>(
            'GET',
            `/v1/rrpc/batches/${enc(id)}/results?cursor=${cursor}&limit=${RESULTS_PAGE}`,
          )
        ).body;
        if (stopped) return;
        const pct = batch.total === 0 ? 100 : Math.round((batch.done / batch.total) * 100);
        replace(
          view,
          h('h2', {}, 'Batch ', h('code', {}, batch.id)),
          h(
            'p',
            { class: 'row' },
            statusBadge(batch.state),
            h('span', { 'data-testid': 'batch-progress-text' }, `${batch.done} of ${batch.total} done (${pct} %)`),
          ),
          h('progress', { max: batch.total, value: batch.done, 'aria-label': 'Batch progress', 'data-testid': 'batch-progress' }),
          h(
            'p',
            {},
            Object.entries(batch.counts).map(([code, n]) => h('span', { class: 'row' }, statusBadge(code), ` ${n} `)),
          ),
          h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { 'aria-label': 'Batch results' },
              h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'Device'), h('th', {}, 'Outcome'), h('th', {}, 'Answer'))),
              h(
                'tbody',
                {},
                results.results.map((r) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, String(r.index)),
                    h('td', {}, `${r.productKey}/${r.deviceName}`),
                    h('td', {}, r.rrpcCode ? statusBadge(r.rrpcCode) : h('span', { class: 'muted' }, 'pending')),
                    h('td', {}, r.payload ? (text(fromBase64(r.payload)) ?? r.payload) : ''),
                  ),
                ),
              ),
            ),
          ),
          h(
            'div',
            { class: 'row' },
            h(
              'button',
              { type: 'button', class: 'secondary', disabled: cursor === 0, onclick: () => watch(id, Math.max(0, cursor - RESULTS_PAGE)) },
              '← Previous',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                disabled: results.nextCursor === null,
                onclick: () => watch(id, Number(results.nextCursor)),
              },
              'Next →',
            ),
          ),
        );
        if (batch.state === 'RUNNING' || batch.done < batch.total) timer = setTimeout(() => void tick(), 1000);
      } catch (error) {
        ctx.notify(describeError(error));
      }
    };
    void tick();
  };

  const create = h(
    'form',
    {
      class: 'grid',
      'aria-label': 'Create a batch',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void (async () => {
          ctx.notify('');
          try {
            const list = devices.value
              .split(/\s+/)
              .filter(Boolean)
              .map((line) => {
                const slash = line.indexOf('/');
                if (slash <= 0) throw new PayloadError(`"${line}" is not productKey/deviceName.`);
                return { productKey: line.slice(0, slash), deviceName: line.slice(slash + 1) };
              });
            if (list.length === 0) throw new PayloadError('Name at least one device (or select devices on the Devices page).');
            const res = await api<BatchView>('POST', '/v1/rrpc/batches', {
              json: {
                devices: list,
                payload: toBase64(encodePayload('text', payload.value)),
                timeoutMs: Number(timeout.value),
                persistent: persistent.checked,
              },
            });
            sessionStorage.removeItem('rrpc.batchSelection');
            session.push('batches', res.body.id);
            lookupId.value = res.body.id;
            watch(res.body.id);
          } catch (error) {
            ctx.notify(describeError(error));
          }
        })();
      },
    },
    field('Devices', devices),
    field('Payload (text)', payload),
    field('Timeout (ms)', timeout),
    h('label', { class: 'inline' }, persistent, ' wait for offline devices (persistent)'),
    h('button', { type: 'submit' }, 'Create batch'),
  );
  const recent = session.list<string>('batches');
  replace(
    main,
    h('h1', {}, 'Batches'),
    h('h2', {}, 'New batch'),
    create,
    h('h2', {}, 'Open a batch'),
    h(
      'form',
      {
        class: 'grid',
        'aria-label': 'Open a batch',
        onsubmit: (e: Event) => {
          e.preventDefault();
          watch(lookupId.value.trim());
        },
      },
      field('Batch ID', lookupId),
      h('button', { type: 'submit', class: 'secondary' }, 'Open'),
    ),
    recent.length
      ? h(
          'p',
          {},
          'This session: ',
          recent.map((id) => [h('a', { href: `#/batches?id=${enc(id)}` }, id), ' ']),
        )
      : null,
    view,
  );
  if (lookupId.value) watch(lookupId.value);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
};

import { api, describeError, enc } from '../api.js';
import { field, h, replace, statusBadge } from '../dom.js';
import { lastProduct, type Page } from '../page.js';

interface JobView {
  id: string;
  state: string;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  result: { rrpcCode?: string } | null;
}

const FINAL = new Set(['SUCCEEDED', 'TIMEOUT', 'EXPIRED', 'FAILED', 'CANCELLED']);

/** A device's persistent calls (jobs): states and attempts; cancel the unfinished ones. */
export const jobsPage: Page = (main, ctx) => {
  const product = h('input', {
    id: 'jobs-product',
    required: true,
    autocomplete: 'off',
    value: ctx.params.get('product') ?? lastProduct.get(),
  });
  const device = h('input', { id: 'jobs-device', required: true, autocomplete: 'off', value: ctx.params.get('device') ?? '' });
  const table = h('div', { class: 'table-wrap' });
  const base = () => `/v1/devices/${enc(product.value.trim())}/${enc(device.value.trim())}/rrpc/jobs`;
  const load = async () => {
    ctx.notify('');
    try {
      const res = await api<{ jobs: JobView[] }>('GET', base());
      const jobs = res.body.jobs;
      replace(
        table,
        jobs.length === 0
          ? h('p', { class: 'muted' }, 'This device has no jobs.')
          : h(
              'table',
              { 'aria-label': 'Jobs' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  h('th', {}, 'Job'),
                  h('th', {}, 'State'),
                  h('th', {}, 'Attempts'),
                  h('th', {}, 'Created'),
                  h('th', {}, 'Expires'),
                  h('th', {}, ''),
                ),
              ),
              h(
                'tbody',
                {},
                jobs.map((j) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, h('code', {}, j.id)),
                    h('td', {}, statusBadge(j.state), j.result?.rrpcCode ? ` ${j.result.rrpcCode}` : ''),
                    h('td', {}, `${j.attempts} / ${j.maxAttempts}`),
                    h('td', {}, j.createdAt),
                    h('td', {}, j.expiresAt),
                    h(
                      'td',
                      {},
                      FINAL.has(j.state)
                        ? ''
                        : h('button', { type: 'button', class: 'danger', onclick: () => void cancel(j.id) }, 'Cancel'),
                    ),
                  ),
                ),
              ),
            ),
      );
    } catch (error) {
      replace(table);
      ctx.notify(describeError(error));
    }
  };
  const cancel = async (id: string) => {
    try {
      await api('DELETE', `${base()}/${enc(id)}`);
      await load();
    } catch (error) {
      ctx.notify(describeError(error));
    }
  };
  replace(
    main,
    h('h1', {}, 'Jobs'),
    h(
      'form',
      {
        class: 'grid',
        'aria-label': 'Show a device’s jobs',
        onsubmit: (e: Event) => {
          e.preventDefault();
          lastProduct.set(product.value.trim());
          void load();
        },
      },
      field('Product key', product),
      field('Device name', device),
      h('button', { type: 'submit' }, 'Show jobs'),
    ),
    table,
  );
  if (product.value && device.value) void load();
};

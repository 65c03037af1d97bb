import { api, describeError, enc } from '../api.js';
import { field, h, replace, statusBadge } from '../dom.js';
import { streamEvents } from '../events.js';
import { lastProduct, shownStatus, type DeviceView, type Page } from '../page.js';

const SERVER_FILTERS = ['ONLINE', 'OFFLINE', 'UNACTIVE'];
const PAGE_SIZE = 50;

/** Devices of a product: paged, filtered, live status; register, import, disable/enable, rotate, delete. */
export const devicesPage: Page = (main, ctx) => {
  const stop = new AbortController();
  const product = h('input', {
    id: 'product',
    name: 'product',
    required: true,
    autocomplete: 'off',
    value: ctx.params.get('product') ?? lastProduct.get(),
  });
  const status = h(
    'select',
    { id: 'status-filter', name: 'status' },
    h('option', { value: '' }, 'any status'),
    ...['ONLINE', 'OFFLINE', 'HALFCONN', 'UNACTIVE', 'disabled', 'NOT_SUBSCRIBED'].map((s) => h('option', { value: s }, s)),
  );
  const search = h('input', { id: 'search', name: 'search', type: 'search', placeholder: 'device name starts with…', autocomplete: 'off' });
  const rows = h('tbody');
  const pager = h('div', { class: 'row' });
  const secretBox = h('div', { 'aria-live': 'polite' });
  const selection = new Set<string>();
  let devices: DeviceView[] = [];
  let cursors: Array<string | undefined> = [undefined];
  let pageIndex = 0;
  let nextCursor: string | null = null;
  let events: AbortController | undefined;

  const showSecret = (device: DeviceView | { productKey: string; deviceName: string }, secret: string, what: string) => {
    replace(
      secretBox,
      h(
        'div',
        { class: 'panel', role: 'alert' },
        h('strong', {}, `${what} ${device.productKey}/${device.deviceName}. `),
        'Its secret is shown only now — copy it into the device: ',
        h('code', { class: 'secret', 'data-testid': 'device-secret' }, secret),
      ),
    );
  };

  const render = () => {
    const prefix = search.value.trim();
    const wanted = status.value;
    const shown = devices.filter(
      (d) =>
        (!prefix || d.deviceName.startsWith(prefix)) &&
        (!wanted || shownStatus(d) === wanted || (wanted === 'NOT_SUBSCRIBED' && d.status === 'NOT_SUBSCRIBED')),
    );
    replace(
      rows,
      shown.length === 0
        ? h(
            'tr',
            {},
            h(
              'td',
              { colspan: 5, class: 'muted' },
              devices.length === 0 ? 'No devices on this page.' : 'No device on this page matches the filter.',
            ),
          )
        : null,
      shown.map((d) => {
        const id = `${d.productKey}/${d.deviceName}`;
        const box = h('input', {
          type: 'checkbox',
          'aria-label': `select ${d.deviceName}`,
          checked: selection.has(id),
          onchange: () => (box.checked ? selection.add(id) : selection.delete(id)),
        });
        return h(
          'tr',
          { 'data-device': d.deviceName },
          h('td', {}, box),
          h('td', {}, h('a', { href: `#/call?product=${enc(d.productKey)}&device=${enc(d.deviceName)}` }, d.deviceName)),
          h('td', { class: 'device-status' }, statusBadge(shownStatus(d))),
          h('td', { class: 'muted' }, d.connectedAt ?? d.createdAt ?? ''),
          h(
            'td',
            { class: 'row' },
            h(
              'button',
              { type: 'button', class: 'secondary', onclick: () => void setEnabled(d, d.enabled === false) },
              d.enabled === false ? 'Enable' : 'Disable',
            ),
            h('button', { type: 'button', class: 'secondary', onclick: () => void rotate(d) }, 'Rotate secret'),
            h('a', { href: `#/jobs?product=${enc(d.productKey)}&device=${enc(d.deviceName)}` }, 'Jobs'),
            h('button', { type: 'button', class: 'danger', onclick: () => void remove(d) }, 'Delete'),
          ),
        );
      }),
    );
    replace(
      pager,
      h('button', { type: 'button', class: 'secondary', disabled: pageIndex === 0, onclick: () => void load(pageIndex - 1) }, '← Previous'),
      h('span', { class: 'muted' }, `Page ${pageIndex + 1}`),
      h('button', { type: 'button', class: 'secondary', disabled: nextCursor === null, onclick: () => void load(pageIndex + 1) }, 'Next →'),
      h('button', { type: 'button', onclick: () => batchFromSelection() }, 'Batch call to selected'),
    );
  };

  const load = async (index: number) => {
    const pk = product.value.trim();
    if (!pk) return;
    lastProduct.set(pk);
    ctx.notify('');
    try {
      const serverStatus = SERVER_FILTERS.includes(status.value) ? `&status=${status.value}` : '';
      const cursor = cursors[index];
      const res = await api<{ devices: DeviceView[]; nextCursor: string | null }>(
        'GET',
        `/v1/products/${enc(pk)}/devices?limit=${PAGE_SIZE}${serverStatus}${cursor ? `&cursor=${enc(cursor)}` : ''}`,
      );
      devices = res.body.devices;
      nextCursor = res.body.nextCursor;
      pageIndex = index;
      cursors = cursors.slice(0, index + 1);
      if (nextCursor !== null) cursors[index + 1] = nextCursor;
      render();
      watch(pk);
    } catch (error) {
      devices = [];
      render();
      ctx.notify(describeError(error));
    }
  };

  /** Live status: one stream per page from the api (which listens to Redis once per pod, not per browser). */
  const watch = (pk: string) => {
    events?.abort();
    events = new AbortController();
    stop.signal.addEventListener('abort', () => events?.abort(), { once: true });
    streamEvents(
      `/v1/events?productKey=${enc(pk)}`,
      (event, data) => {
        if (event !== 'presence') return;
        const change = JSON.parse(data) as { productKey: string; deviceName: string; status: string };
        const device = devices.find((d) => d.productKey === change.productKey && d.deviceName === change.deviceName);
        if (!device) return;
        device.status = change.status;
        render();
      },
      events.signal,
    );
  };

  const act = async (work: () => Promise<void>) => {
    ctx.notify('');
    try {
      await work();
    } catch (error) {
      ctx.notify(describeError(error));
    }
  };
  const path = (d: DeviceView) => `/v1/devices/${enc(d.productKey)}/${enc(d.deviceName)}`;
  const setEnabled = (d: DeviceView, enabled: boolean) =>
    act(async () => {
      const res = await api<DeviceView>('PATCH', path(d), { json: { enabled } });
      Object.assign(d, res.body);
      render();
    });
  const rotate = (d: DeviceView) =>
    act(async () => {
      if (!confirm(`Rotate the secret of ${d.deviceName}? The old secret stops working at once.`)) return;
      const res = await api<{ deviceSecret: string }>('POST', `${path(d)}/secret`);
      showSecret(d, res.body.deviceSecret, 'New secret of');
    });
  const remove = (d: DeviceView) =>
    act(async () => {
      if (!confirm(`Delete ${d.deviceName}? It can no longer connect or be called.`)) return;
      await api('DELETE', path(d));
      devices = devices.filter((x) => x !== d);
      render();
    });
  const batchFromSelection = () => {
    if (selection.size === 0) return ctx.notify('Select devices first (the boxes in the first column).');
    sessionStorage.setItem('rrpc.batchSelection', JSON.stringify([...selection]));
    ctx.go('#/batches?new=1');
  };

  const name = h('input', { id: 'new-name', name: 'deviceName', autocomplete: 'off', placeholder: 'generated when empty' });
  const secret = h('input', {
    id: 'new-secret',
    name: 'deviceSecret',
    type: 'password',
    autocomplete: 'new-password',
    placeholder: 'generated when empty',
  });
  const register = h(
    'form',
    {
      class: 'grid',
      'aria-label': 'Register a device',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void act(async () => {
          const body: Record<string, string> = { productKey: product.value.trim() };
          if (name.value.trim()) body['deviceName'] = name.value.trim();
          if (secret.value) body['deviceSecret'] = secret.value;
          const res = await api<DeviceView & { deviceSecret: string }>('POST', '/v1/devices', { json: body });
          showSecret(res.body, res.body.deviceSecret, 'Registered');
          name.value = '';
          secret.value = '';
          await load(pageIndex);
        });
      },
    },
    field('Device name', name),
    field('Device secret', secret, '16–128 visible characters'),
    h('button', { type: 'submit' }, 'Register'),
  );
  const csv = h('input', { id: 'import-file', type: 'file', accept: '.csv,text/csv' });
  const importForm = h(
    'form',
    {
      class: 'grid',
      'aria-label': 'Import devices',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void act(async () => {
          const file = csv.files?.[0];
          if (!file) throw new Error('Choose a CSV file of productKey,deviceName,deviceSecret lines.');
          const lines = (await file.text())
            .split(/\r?\n/)
            .map((l) => l.trim())
            .filter((l) => l && !/^productKey\s*,/i.test(l));
          const devicesToImport = lines.map((line) => {
            const [productKey = '', deviceName = '', deviceSecret = ''] = line.split(',').map((s) => s.trim());
            return { productKey, deviceName, deviceSecret };
          });
          const res = await api<{ created: number; existing: number; failed: Array<{ index: number; error: { message: string } }> }>(
            'POST',
            '/v1/devices/import',
            { json: { devices: devicesToImport } },
          );
          const failed = res.body.failed.map((f) => `line ${f.index + 1}: ${f.error.message}`);
          replace(
            secretBox,
            h(
              'div',
              { class: 'panel', role: 'status' },
              `Imported: ${res.body.created} created, ${res.body.existing} existing, ${failed.length} failed. `,
              failed.slice(0, 10).join('; '),
            ),
          );
          await load(0);
        });
      },
    },
    field('CSV file', csv, 'productKey,deviceName,deviceSecret'),
    h('button', { type: 'submit', class: 'secondary' }, 'Import'),
  );

  const lookup = h(
    'form',
    {
      class: 'grid',
      'aria-label': 'Show devices',
      onsubmit: (e: Event) => {
        e.preventDefault();
        cursors = [undefined];
        void load(0);
      },
    },
    field('Product key', product),
    field('Status', status),
    field('Search', search),
    h('button', { type: 'submit' }, 'Show devices'),
  );
  status.addEventListener('change', () => {
    cursors = [undefined];
    void load(0);
  });
  search.addEventListener('input', render);

  replace(
    main,
    h('h1', {}, 'Devices'),
    lookup,
    secretBox,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { 'aria-label': 'Devices' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, h('span', { class: 'muted' }, '✓')),
            h('th', {}, 'Device'),
            h('th', {}, 'Status'),
            h('th', {}, 'Since'),
            h('th', {}, 'Actions'),
          ),
        ),
        rows,
      ),
    ),
    pager,
    h('h2', {}, 'Register a device'),
    register,
    h('h2', {}, 'Import devices (CSV)'),
    importForm,
  );
  if (product.value) void load(0);
  else render();
  return () => stop.abort();
};

import { api, apiBase, describeError, session } from '../api.js';
import { cliCommand, curlCommand, type CallSpec } from '../commands.js';
import { copy, field, h, replace, statusBadge } from '../dom.js';
import { encodePayload, fromBase64, hex, prettyJson, text, textOf, toBase64, type PayloadFormat } from '../payload.js';
import { lastProduct, type Page } from '../page.js';

export interface RecentCall {
  at: string;
  productKey: string;
  deviceName: string;
  rrpcCode: string;
  messageId?: string;
  durationMs?: number;
}

/** Try a call: payload as text, JSON, hex, base64 or a file; the answer in every form; the same call as curl and CLI. */
export const callPage: Page = (main, ctx) => {
  const product = h('input', {
    id: 'call-product',
    required: true,
    autocomplete: 'off',
    value: ctx.params.get('product') ?? lastProduct.get(),
  });
  const device = h('input', { id: 'call-device', required: true, autocomplete: 'off', value: ctx.params.get('device') ?? '' });
  const format = h(
    'select',
    { id: 'call-format' },
    ...(['text', 'json', 'hex', 'base64'] as const).map((f) => h('option', { value: f }, f)),
    h('option', { value: 'file' }, 'file'),
  );
  const payload = h('textarea', { id: 'call-payload', spellcheck: 'false' }, 'hello');
  const file = h('input', { id: 'call-file', type: 'file' });
  const timeout = h('input', { id: 'call-timeout', type: 'number', min: 1000, max: 60000, step: 100, value: 5000 });
  const topic = h('input', { id: 'call-topic', autocomplete: 'off', placeholder: '/{productKey}/{deviceName}/user/…' });
  const connectTimeout = h('input', { id: 'call-connect-timeout', type: 'number', min: 0, max: 60000, step: 100, value: 0 });
  const idem = h('input', { id: 'call-idempotency', autocomplete: 'off', placeholder: 'optional' });
  const answer = h('section', { 'aria-live': 'polite', 'aria-label': 'Answer' });
  const send = h('button', { type: 'submit' }, 'Send call');
  const payloadField = field('Payload', payload);
  const fileField = field('File', file);
  fileField.hidden = true;
  format.addEventListener('change', () => {
    payloadField.hidden = format.value === 'file';
    fileField.hidden = format.value !== 'file';
  });

  const bytesToSend = async (): Promise<Uint8Array> => {
    if (format.value === 'file') {
      const chosen = file.files?.[0];
      if (!chosen) throw new Error('Choose a file to send.');
      return new Uint8Array(await chosen.arrayBuffer());
    }
    return encodePayload(format.value as PayloadFormat, payload.value);
  };

  const show = (spec: CallSpec, status: number, body: Record<string, unknown>) => {
    const code = textOf(body['rrpcCode']) ?? textOf((body['error'] as { code?: unknown } | undefined)?.code) ?? `HTTP ${status}`;
    const bytes = typeof body['payload'] === 'string' ? fromBase64(body['payload']) : undefined;
    const curl = h('pre', { 'data-testid': 'curl' }, curlCommand(apiBase, spec));
    const cli = h('pre', { 'data-testid': 'cli' }, cliCommand(apiBase, spec));
    const error = body['error'] as { code?: string; message?: string } | undefined;
    replace(
      answer,
      h('h2', {}, 'Answer'),
      h(
        'div',
        { class: 'panel' },
        h(
          'p',
          { class: 'row' },
          statusBadge(code),
          h('span', {}, `HTTP ${status}`),
          textOf(body['messageId'])
            ? h('span', {}, 'message ID ', h('code', { 'data-testid': 'message-id' }, textOf(body['messageId']) ?? ''))
            : null,
          typeof body['durationMs'] === 'number' ? h('span', {}, `${body['durationMs']} ms`) : null,
        ),
        error ? h('p', { class: 'error' }, error.message ?? '') : null,
        bytes
          ? [
              h('h3', {}, 'As text'),
              h('pre', { 'data-testid': 'answer-text' }, text(bytes) ?? '(not UTF-8 text)'),
              prettyJson(bytes) !== undefined
                ? [h('h3', {}, 'As JSON'), h('pre', { 'data-testid': 'answer-json' }, prettyJson(bytes) ?? '')]
                : null,
              h('h3', {}, `As hex (${bytes.length} bytes)`),
              h('pre', { 'data-testid': 'answer-hex' }, hex(bytes) || '(empty)'),
            ]
          : null,
      ),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', class: 'secondary', onclick: () => void copy(curl.textContent ?? '', curl) }, 'Copy curl'),
        h('button', { type: 'button', class: 'secondary', onclick: () => void copy(cli.textContent ?? '', cli) }, 'Copy rrpc command'),
      ),
      h('p', { class: 'muted' }, 'Set RRPC_API_KEY to your key first; the console never prints it.'),
      curl,
      cli,
    );
  };

  const form = h(
    'form',
    {
      class: 'grid',
      'aria-label': 'Call a device',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void (async () => {
          ctx.notify('');
          send.disabled = true;
          try {
            const bytes = await bytesToSend();
            const spec: CallSpec = {
              productKey: product.value.trim(),
              deviceName: device.value.trim(),
              payloadBase64: toBase64(bytes),
              timeoutMs: Number(timeout.value),
              topic: topic.value.trim() || undefined,
              connectTimeoutMs: Number(connectTimeout.value) || undefined,
              idempotencyKey: idem.value.trim() || undefined,
            };
            lastProduct.set(spec.productKey);
            const body: Record<string, unknown> = { payload: spec.payloadBase64, timeoutMs: spec.timeoutMs };
            if (spec.topic) body['topic'] = spec.topic;
            if (spec.connectTimeoutMs) body['connectTimeoutMs'] = spec.connectTimeoutMs;
            const headers: Record<string, string> = spec.idempotencyKey ? { 'idempotency-key': spec.idempotencyKey } : {};
            const res = await api<Record<string, unknown>>(
              'POST',
              `/v1/devices/${encodeURIComponent(spec.productKey)}/${encodeURIComponent(spec.deviceName)}/rrpc`,
              { json: body, headers, allow: [400, 403, 404, 409, 413, 415, 429, 503, 504] },
            );
            show(spec, res.status, res.body);
            const messageId = res.body['messageId'];
            const durationMs = res.body['durationMs'];
            session.push<RecentCall>('calls', {
              at: new Date().toISOString(),
              productKey: spec.productKey,
              deviceName: spec.deviceName,
              rrpcCode:
                textOf(res.body['rrpcCode']) ?? textOf((res.body['error'] as { code?: unknown } | undefined)?.code) ?? String(res.status),
              ...(typeof messageId === 'string' ? { messageId } : {}),
              ...(typeof durationMs === 'number' ? { durationMs } : {}),
            });
          } catch (error) {
            ctx.notify(describeError(error));
          } finally {
            send.disabled = false;
          }
        })();
      },
    },
    field('Product key', product),
    field('Device name', device),
    field('Payload as', format),
    field('Timeout (ms)', timeout),
    field('Custom topic', topic, 'empty: the system RRPC topic'),
    field('Wait for connect (ms)', connectTimeout, 'connectTimeoutMs: 0 answers OFFLINE at once'),
    field('Idempotency-Key', idem),
    send,
  );
  replace(main, h('h1', {}, 'Try a call'), form, h('div', {}, payloadField, fileField), answer);
};

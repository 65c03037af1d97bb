import { api, describeError, enc, session } from '../api.js';
import { field, h, replace, statusBadge } from '../dom.js';
import { fromBase64, hex, text, textOf } from '../payload.js';
import type { Page } from '../page.js';
import type { RecentCall } from './call.js';

/** Look up a call's stored outcome by message ID, and the calls this browser made in this session. */
export const callsPage: Page = (main, ctx) => {
  const id = h('input', {
    id: 'message-id',
    inputmode: 'numeric',
    autocomplete: 'off',
    pattern: '[1-9][0-9]{0,18}',
    value: ctx.params.get('id') ?? '',
  });
  const result = h('div', { 'aria-live': 'polite' });
  const lookUp = async (messageId: string) => {
    ctx.notify('');
    try {
      const res = await api<Record<string, unknown>>('GET', `/v1/rrpc/${enc(messageId)}`);
      const b = res.body;
      const bytes = typeof b['payload'] === 'string' ? fromBase64(b['payload']) : undefined;
      replace(
        result,
        h(
          'div',
          { class: 'panel' },
          h(
            'p',
            { class: 'row' },
            statusBadge(textOf(b['rrpcCode']) ?? textOf(b['state']) ?? '?'),
            h('span', {}, `${textOf(b['productKey']) ?? ''}/${textOf(b['deviceName']) ?? ''}`),
          ),
          h('pre', {}, JSON.stringify({ ...b, payload: undefined }, null, 2)),
          bytes
            ? [
                h('h3', {}, 'Answer as text'),
                h('pre', {}, text(bytes) ?? '(not UTF-8)'),
                h('h3', {}, 'As hex'),
                h('pre', {}, hex(bytes) || '(empty)'),
              ]
            : null,
        ),
      );
    } catch (error) {
      replace(result);
      ctx.notify(describeError(error));
    }
  };
  const recent = session.list<RecentCall>('calls');
  replace(
    main,
    h('h1', {}, 'Calls and outcomes'),
    h(
      'form',
      {
        class: 'grid',
        'aria-label': 'Look up a message ID',
        onsubmit: (e: Event) => {
          e.preventDefault();
          void lookUp(id.value.trim());
        },
      },
      field('Message ID', id),
      h('button', { type: 'submit' }, 'Look up'),
    ),
    result,
    h('h2', {}, 'This session’s calls'),
    recent.length === 0
      ? h('p', { class: 'muted' }, 'No calls yet: try one on the “Try a call” page.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { 'aria-label': 'Recent calls' },
            h(
              'thead',
              {},
              h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Device'), h('th', {}, 'Outcome'), h('th', {}, 'Message ID'), h('th', {}, 'ms')),
            ),
            h(
              'tbody',
              {},
              recent.map((c) =>
                h(
                  'tr',
                  {},
                  h('td', {}, c.at.replace('T', ' ').slice(0, 19)),
                  h('td', {}, `${c.productKey}/${c.deviceName}`),
                  h('td', {}, statusBadge(c.rrpcCode)),
                  h('td', {}, c.messageId ? h('a', { href: `#/calls?id=${enc(c.messageId)}` }, c.messageId) : ''),
                  h('td', {}, c.durationMs === undefined ? '' : String(c.durationMs)),
                ),
              ),
            ),
          ),
        ),
  );
  if (id.value) void lookUp(id.value);
};

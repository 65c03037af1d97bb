import { ApiError, api, describeError, session } from './api.js';
import { field, h, replace } from './dom.js';
import type { Page, PageContext } from './page.js';
import { batchesPage } from './pages/batches.js';
import { callPage } from './pages/call.js';
import { callsPage } from './pages/calls.js';
import { devicesPage } from './pages/devices.js';
import { healthPage } from './pages/health.js';
import { jobsPage } from './pages/jobs.js';

const PAGES: Record<string, Page> = {
  devices: devicesPage,
  call: callPage,
  calls: callsPage,
  jobs: jobsPage,
  batches: batchesPage,
  health: healthPage,
};

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const notice = document.getElementById('notice') as HTMLElement;
let cleanup: (() => void) | void;

const notify = (message: string) => {
  notice.textContent = message;
};

/** A link from `npm start` carries the key in the fragment (#key=…): taken into sessionStorage, then removed from the URL. */
function takeKeyFromFragment(): void {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!match?.[1]) return;
  session.key = decodeURIComponent(match[1]);
  history.replaceState(null, '', `${location.pathname}${location.search}#/devices`);
}

/** Checks a key against the API; a wrong key and a missing one get the API's own message. */
async function verifyKey(): Promise<boolean> {
  try {
    await api('GET', '/v1/cluster/summary');
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      session.key = null;
      notify(`Sign-in failed: ${error.message}`);
      return false;
    }
    // Any other answer (a scoped key may not see the summary, say) proves the key was accepted.
    return error instanceof ApiError;
  }
}

function signIn(): void {
  nav.hidden = true;
  const key = h('input', { id: 'api-key', name: 'apiKey', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit' }, 'Sign in');
  replace(
    main,
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Use an RRPC API key. It stays in this browser tab only (sessionStorage) and is sent as a bearer token.'),
    h(
      'form',
      {
        class: 'grid',
        'aria-label': 'Sign in',
        onsubmit: (e: Event) => {
          e.preventDefault();
          void (async () => {
            button.disabled = true;
            notify('');
            session.key = key.value.trim();
            try {
              if (await verifyKey()) {
                location.hash = '#/devices';
                route();
              }
            } catch (error) {
              notify(describeError(error));
            } finally {
              button.disabled = false;
            }
          })();
        },
      },
      field('API key', key),
      button,
    ),
  );
  key.focus();
}

function route(): void {
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  if (!session.key) return signIn();
  nav.hidden = false;
  const [path = '', query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const name = path in PAGES ? path : 'devices';
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const ctx: PageContext = { params: new URLSearchParams(query), notify, go: (hash) => (location.hash = hash) };
  notify('');
  const page = PAGES[name];
  if (page) cleanup = page(main, ctx);
  main.focus({ preventScroll: true });
}

document.getElementById('sign-out')?.addEventListener('click', () => {
  session.key = null;
  location.hash = '';
  route();
});
window.addEventListener('hashchange', route);
takeKeyFromFragment();
if (session.key) {
  void verifyKey().then((ok) => (ok ? route() : signIn()));
} else signIn();

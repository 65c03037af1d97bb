/** A tiny DOM builder: h('button', { type: 'button', onclick }, 'Save'). Text is always set as text, never as HTML. */
/** A child, or nested lists of children (flattened). */
export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const child of children) {
    if (Array.isArray(child)) {
      append(el, child);
      continue;
    }
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A labelled form control (every input has a visible label). */
export function field(label: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h('label', {}, label, control, hint ? h('span', { class: 'muted' }, hint) : null);
}

export function statusBadge(status: string): HTMLSpanElement {
  return h('span', { class: `status ${status}` }, status);
}

/** Copies text to the clipboard; falls back to selecting it where the clipboard API is not allowed. */
export async function copy(text: string, fallback: HTMLElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents(fallback);
    getSelection()?.removeAllRanges();
    getSelection()?.addRange(range);
    return false;
  }
}

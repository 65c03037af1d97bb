/** How an answer is shown in a terminal: as text when it is printable UTF-8, else as base64. */
export type Rendered = { kind: 'text'; text: string } | { kind: 'base64'; text: string };

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// C0 controls other than tab, line feed and carriage return; DEL; C1 controls.
// eslint-disable-next-line no-control-regex -- matching control characters is this expression's purpose
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

export function renderPayload(bytes: Uint8Array): Rendered {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { kind: 'base64', text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  }
  if (CONTROL.test(text)) return { kind: 'base64', text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  return { kind: 'text', text };
}

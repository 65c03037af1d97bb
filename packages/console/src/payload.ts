/** Request payloads typed as text, JSON, hex or base64, and answer payloads shown as text, JSON and hex. */
export type PayloadFormat = 'text' | 'json' | 'hex' | 'base64';

export class PayloadError extends Error {}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The bytes of what was typed, or a PayloadError saying what is wrong with it. */
export function encodePayload(format: PayloadFormat, input: string): Uint8Array {
  switch (format) {
    case 'text':
      return new TextEncoder().encode(input);
    case 'json':
      try {
        JSON.parse(input);
      } catch (error) {
        throw new PayloadError(`The payload is not valid JSON: ${(error as Error).message}`);
      }
      return new TextEncoder().encode(input);
    case 'hex': {
      const clean = input.replace(/\s+/g, '');
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new PayloadError('Hex must be pairs of the digits 0-9 and a-f.');
      const bytes = new Uint8Array(clean.length / 2);
      for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
      return bytes;
    }
    case 'base64': {
      const clean = input.replace(/\s+/g, '');
      if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(clean))
        throw new PayloadError('Base64 must be standard, padded base64.');
      return fromBase64(clean);
    }
  }
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** UTF-8 text when the bytes are valid UTF-8, else undefined. */
export function text(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Pretty JSON when the bytes are a JSON document, else undefined. */
export function prettyJson(bytes: Uint8Array): string | undefined {
  const t = text(bytes);
  if (t === undefined) return undefined;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return undefined;
  }
}

/** A JSON field shown as text: strings as they are, numbers and booleans written out, anything else undefined. */
export function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

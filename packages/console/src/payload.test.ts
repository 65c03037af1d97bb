import { describe, expect, it } from 'vitest';
import { cliCommand, curlCommand } from './commands.js';
import { PayloadError, encodePayload, fromBase64, hex, prettyJson, text, toBase64 } from './payload.js';

describe('payload formats', () => {
  it('encodes text, JSON, hex and base64 to the same bytes', () => {
    const want = [0x7b, 0x7d];
    expect([...encodePayload('text', '{}')]).toEqual(want);
    expect([...encodePayload('json', '{}')]).toEqual(want);
    expect([...encodePayload('hex', '7b 7D')]).toEqual(want);
    expect([...encodePayload('base64', 'e30=')]).toEqual(want);
  });

  it('says what is wrong with bad input', () => {
    expect(() => encodePayload('json', '{"a":')).toThrow(PayloadError);
    expect(() => encodePayload('hex', 'abc')).toThrow(/pairs/);
    expect(() => encodePayload('base64', 'e30')).toThrow(/padded/);
  });

  it('shows answers as text, pretty JSON and hex, and round-trips base64 of any bytes', () => {
    const bytes = new Uint8Array(70_000).map((_, i) => i % 256);
    expect([...fromBase64(toBase64(bytes))]).toEqual([...bytes]);
    expect(toBase64(new TextEncoder().encode('hello'))).toBe(Buffer.from('hello').toString('base64'));
    expect(text(new Uint8Array([0xff, 0xfe]))).toBeUndefined();
    expect(prettyJson(new TextEncoder().encode('{"a":1}'))).toBe('{\n  "a": 1\n}');
    expect(prettyJson(new TextEncoder().encode('not json'))).toBeUndefined();
    expect(hex(new Uint8Array([0, 15, 255]))).toBe('00 0f ff');
  });
});

describe('equivalent commands', () => {
  const call = { productKey: 'pk', deviceName: "it's-1", payloadBase64: Buffer.from('{"cmd":"on"}').toString('base64'), timeoutMs: 5000 };

  it('quote every argument for the shell and never contain the key', () => {
    const curl = curlCommand('http://h:1', { ...call, idempotencyKey: 'k-1' });
    expect(curl).toContain(`'http://h:1/v1/devices/pk/it'\\''s-1/rrpc'`);
    expect(curl).toContain('$RRPC_API_KEY');
    expect(curl).toContain("-H 'Idempotency-Key: k-1'");
    expect(cliCommand('http://h:1', call)).toContain(`npx rrpc call 'pk' 'it'\\''s-1' --timeout 5000 --data '{"cmd":"on"}'`);
  });

  it('pipe binary payloads into the CLI instead of passing them as text', () => {
    const binary = { ...call, payloadBase64: Buffer.from([0, 1, 2, 255]).toString('base64') };
    expect(cliCommand('http://h:1', binary)).toMatch(/^echo 'AAEC\/w==' \| base64 -d \| .* --file -$/);
  });
});

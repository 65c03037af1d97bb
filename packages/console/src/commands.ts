/** The curl and `rrpc` CLI commands equivalent to a call made in the console (the key as a variable, never inline). */
export interface CallSpec {
  productKey: string;
  deviceName: string;
  payloadBase64: string;
  timeoutMs: number;
  topic?: string | undefined;
  connectTimeoutMs?: number | undefined;
  idempotencyKey?: string | undefined;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function curlCommand(apiBase: string, call: CallSpec): string {
  const body: Record<string, unknown> = { payload: call.payloadBase64, timeoutMs: call.timeoutMs };
  if (call.topic) body['topic'] = call.topic;
  if (call.connectTimeoutMs) body['connectTimeoutMs'] = call.connectTimeoutMs;
  const url = `${apiBase}/v1/devices/${encodeURIComponent(call.productKey)}/${encodeURIComponent(call.deviceName)}/rrpc`;
  return [
    `curl -sS -X POST ${quote(url)}`,
    `-H "Authorization: Bearer $RRPC_API_KEY"`,
    `-H 'Content-Type: application/json'`,
    call.idempotencyKey ? `-H ${quote(`Idempotency-Key: ${call.idempotencyKey}`)}` : '',
    `-d ${quote(JSON.stringify(body))}`,
  ]
    .filter(Boolean)
    .join(' ');
}

export function cliCommand(apiBase: string, call: CallSpec): string {
  const text = utf8(call.payloadBase64);
  const env = `RRPC_URL=${quote(apiBase)} RRPC_API_KEY="$RRPC_API_KEY"`;
  const args = [
    `${quote(call.productKey)} ${quote(call.deviceName)}`,
    `--timeout ${call.timeoutMs}`,
    call.topic ? `--topic ${quote(call.topic)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  // Text goes as --data; other bytes are piped in (the CLI reads --file - from stdin).
  if (text !== undefined) return `${env} npx rrpc call ${args} --data ${quote(text)}`;
  return `echo ${quote(call.payloadBase64)} | base64 -d | ${env} npx rrpc call ${args} --file -`;
}

/** The payload as text when it is printable UTF-8 (no control characters but tab and newline), else undefined. */
function utf8(base64: string): string | undefined {
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this check looks for
    return /[\u0000-\u0008\u000b-\u001f\u007f]/.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

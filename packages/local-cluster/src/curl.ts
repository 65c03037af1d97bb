/** The ready-to-paste curl commands `npm start` prints. */
export function curlCommand(apiUrl: string, apiKey: string, productKey: string, deviceName: string, text: string): string {
  const body = JSON.stringify({ payload: Buffer.from(text).toString('base64'), timeoutMs: 5000 });
  return `curl -sS -X POST '${apiUrl}/v1/devices/${productKey}/${deviceName}/rrpc' -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' -d '${body}'`;
}

export function rawCurlCommand(
  apiUrl: string,
  apiKey: string,
  productKey: string,
  deviceName: string,
  text: string,
  topic?: string,
): string {
  const query = topic === undefined ? '' : `?topic=${encodeURIComponent(topic)}`;
  return `curl -sS -X POST '${apiUrl}/v1/devices/${productKey}/${deviceName}/rrpc${query}' -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/octet-stream' --data-binary '${text}'`;
}

/** Registers a device (POST /v1/devices): the answer carries its generated name and secret, shown only once. */
export function registerCurlCommand(apiUrl: string, apiKey: string, productKey: string): string {
  return `curl -sS -X POST '${apiUrl}/v1/devices' -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' -d '${JSON.stringify({ productKey })}'`;
}

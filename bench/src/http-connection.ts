/**
 * A minimal HTTP/1.1 keep-alive client connection over one TCP socket, cheap enough to hold tens of
 * thousands of them in one load-generator process. Requests may be pipelined: answers come in order.
 * It understands exactly what the api sends back: a status line, headers and a Content-Length body.
 */
import { connect, type Socket } from 'node:net';

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

interface Outstanding {
  resolve(answer: HttpAnswer): void;
  reject(error: Error): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');

export class HttpConnection {
  private readonly outstanding: Outstanding[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private bodyNeeded = -1;
  private status = 0;
  private headLength = 0;
  private closedWith: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static open(host: string, port: number): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new HttpConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  get inFlight(): number {
    return this.outstanding.length;
  }

  get usable(): boolean {
    return this.closedWith === undefined;
  }

  /** Sends a prepared request (head and body bytes); resolves with the answer. */
  send(request: Buffer | string): Promise<HttpAnswer> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.outstanding.push({ resolve, reject });
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(error: Error): void {
    this.closedWith ??= error;
    for (const o of this.outstanding.splice(0)) o.reject(error);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.bodyNeeded < 0) {
        const end = this.buffer.indexOf(HEAD_END);
        if (end < 0) return;
        const head = this.buffer.toString('latin1', 0, end);
        this.status = Number(head.slice(9, 12));
        const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (!match) {
          this.fail(new Error(`answer without Content-Length: ${head.slice(0, 200)}`));
          this.socket.destroy();
          return;
        }
        this.bodyNeeded = Number(match[1]);
        this.headLength = end + 4;
      }
      if (this.buffer.length < this.headLength + this.bodyNeeded) return;
      const body = this.buffer.subarray(this.headLength, this.headLength + this.bodyNeeded);
      this.buffer = this.buffer.subarray(this.headLength + this.bodyNeeded);
      this.bodyNeeded = -1;
      this.outstanding.shift()?.resolve({ status: this.status, body });
    }
  }
}

/** The bytes of one JSON RRPC request to the api. */
export function rrpcRequest(productKey: string, deviceName: string, payload: Buffer, timeoutMs: number, apiKey: string): string {
  const body = `{"payload":"${payload.toString('base64')}","timeoutMs":${timeoutMs}}`;
  return (
    `POST /v1/devices/${productKey}/${deviceName}/rrpc HTTP/1.1\r\n` +
    `Host: bench\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    body
  );
}

/** The api's own `durationMs` of the last answer checked as ok (its Caller: pending record to answer). */
export let lastDurationMs = NaN;

/** Checks an api answer against the payload that was sent: 'ok', 'mismatched' or an error kind. */
export function checkAnswer(answer: HttpAnswer, payload: Buffer): string {
  if (answer.status !== 200) {
    let code = '';
    try {
      const error = (JSON.parse(answer.body.toString()) as { error?: { code?: string; message?: string } }).error;
      code = `${error?.code ?? ''}: ${(error?.message ?? '').slice(0, 80)}`;
    } catch {
      // not JSON
    }
    return `http ${answer.status} ${code}`.trim();
  }
  const parsed = JSON.parse(answer.body.toString()) as { rrpcCode?: string; payload?: string; durationMs?: number };
  if (parsed.rrpcCode !== 'SUCCESS') return `rrpcCode ${parsed.rrpcCode}`;
  lastDurationMs = parsed.durationMs ?? NaN;
  return parsed.payload === payload.toString('base64') ? 'ok' : 'mismatched';
}

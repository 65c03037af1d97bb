/**
 * Preloaded into the api and the ingest by `serial-path` (`--import`), never by the services themselves:
 * records, with CLOCK_MONOTONIC microseconds (comparable across processes), every socket write, every
 * socket read delivered as a 'data' event, and every HTTP request the server emits. SIGUSR2 writes the
 * record to $RRPC_SOCKET_TRACE_FILE.
 */
import http from 'node:http';
import net from 'node:net';
import { writeFileSync } from 'node:fs';

/** [microseconds, kind, remote port]; kind: W write, R read, Q an HTTP request. */
export type TraceRecord = [number, 'W' | 'R' | 'Q', number];

const records: TraceRecord[] = [];
const LIMIT = 2_000_000;
const now = () => Number(process.hrtime.bigint() / 1000n);

// eslint-disable-next-line @typescript-eslint/unbound-method -- the original method, called below with the socket (or server) as `this`
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
  if (records.length < LIMIT) records.push([now(), 'W', this.remotePort ?? 0]);
  return (write as (...a: unknown[]) => boolean).apply(this, args);
};

// eslint-disable-next-line @typescript-eslint/unbound-method -- the original method, called below with the socket (or server) as `this`
const emitSocket = net.Socket.prototype.emit;
net.Socket.prototype.emit = function (this: net.Socket, event: string | symbol, ...args: unknown[]) {
  if (event === 'data' && records.length < LIMIT) records.push([now(), 'R', this.remotePort ?? 0]);
  return (emitSocket as (...a: unknown[]) => boolean).call(this, event, ...args);
} as typeof emitSocket;

// eslint-disable-next-line @typescript-eslint/unbound-method -- the original method, called below with the socket (or server) as `this`
const emitServer = http.Server.prototype.emit;
http.Server.prototype.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]) {
  if (event === 'request' && records.length < LIMIT) records.push([now(), 'Q', 0]);
  return (emitServer as (...a: unknown[]) => boolean).call(this, event, ...args);
} as typeof emitServer;

process.on('SIGUSR2', () => {
  const file = process.env['RRPC_SOCKET_TRACE_FILE'];
  if (file) writeFileSync(file, JSON.stringify(records.splice(0)));
});

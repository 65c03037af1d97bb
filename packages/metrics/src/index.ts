export * from './definitions.js';
export type { Registry } from 'prom-client';

export * from './definitions.js';
export type { Registry } from 'prom-client';
export { labelChildren } from './label-children.js';

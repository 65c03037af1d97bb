export * from './definitions.js';
export type { Registry } from 'prom-client';
export { labelChildren } from './label-children.js';
export { PodSummarizer, quantile, reportPeriodically, type PodSummary, type SummarySpec } from './pod-summary.js';

export * from './identifiers.js';
export * from './rrpc-topics.js';
export * from './authorization.js';
export * from './broker-acl.js';
export * from './topic-filters.js';

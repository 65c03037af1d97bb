export { freePort, waitFor } from './free-port.js';
export { startMosquitto, startRedis, type ManagedServer } from './processes.js';

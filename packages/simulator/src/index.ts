export {
  startSimulation,
  simulatedDeviceNames,
  type Simulation,
  type SimulationOptions,
  type SimulationStats,
  type SimulatedDevice,
} from './simulation.js';
export {
  behaviourHandler,
  checkBehaviour,
  drawDelay,
  formatDelay,
  parseDelay,
  SimulatorOptionError,
  DEFAULT_ERROR_PAYLOAD,
  type Behaviour,
  type Delay,
  type ErrorMode,
  type HandlerCounters,
  type ReplyMode,
} from './behaviour.js';
export {
  emqxConnected,
  emqxDisconnected,
  emqxSubscription,
  type SubscriptionEventInput,
  WebhookSender,
  type ConnectedEventInput,
  type DisconnectedEventInput,
  type WebhookSenderOptions,
} from './emqx-webhooks.js';
export { formatStats } from './format-stats.js';
export { HELP, parseCliOptions, type CliOptions } from './cli-options.js';

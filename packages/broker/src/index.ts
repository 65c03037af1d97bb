export {
  BrokerClient,
  createServiceBroker,
  serviceClientId,
  type BrokerOptions,
  type ServiceBrokerConfig,
  type Subscription,
} from './broker-client.js';

export { BrokerClient, createServiceBroker, type BrokerOptions, type ServiceBrokerConfig, type Subscription } from './broker-client.js';

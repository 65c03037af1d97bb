export { BrokerClient, type BrokerOptions, type Subscription } from './broker-client.js';

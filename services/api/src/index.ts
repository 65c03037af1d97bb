export { createApiService, type ApiService } from './api-service.js';

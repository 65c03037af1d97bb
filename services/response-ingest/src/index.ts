export { createIngestService, type IngestService } from './ingest-service.js';
export { parseEmqxWebhook, type ParsedWebhook, type PresenceEvent } from './emqx-events.js';

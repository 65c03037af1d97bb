import type { SimulationStats } from './simulation.js';

/** One line of counters, as rrpc-sim prints them. */
export function formatStats(s: SimulationStats): string {
  const parts = [
    `online ${s.connected}/${s.devices}`,
    `connects ${s.connects}`,
    `disconnects ${s.disconnects}`,
    `requests ${s.requests}`,
    `answered ${s.answers}`,
    `error answers ${s.errorAnswers}`,
    `unanswered ${s.unanswered}`,
  ];
  if ((s.traced ?? 0) > 0) parts.push(`traced ${s.traced}`);
  if (s.connectFailures > 0) parts.push(`connect failures ${s.connectFailures}`);
  if (s.errors > 0) parts.push(`errors ${s.errors}`);
  if (s.webhooksSent + s.webhooksFailed > 0) parts.push(`webhooks ${s.webhooksSent} sent, ${s.webhooksFailed} failed`);
  return parts.join(', ');
}

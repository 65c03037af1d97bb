import { apiBase, session } from './api.js';

/**
 * Server-sent events read with fetch (EventSource cannot send an Authorization header): the key stays in a
 * header, never in the URL. Reconnects after a drop until `signal` aborts.
 */
export function streamEvents(path: string, onEvent: (event: string, data: string) => void, signal: AbortSignal): void {
  const run = async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(apiBase + path, {
          headers: { authorization: `Bearer ${session.key ?? ''}`, accept: 'text/event-stream' },
          signal,
          cache: 'no-store',
        });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length > 0) onEvent(event, data.join('\n'));
          }
        }
      } catch {
        if (signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  void run();
}

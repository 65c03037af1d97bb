/** The top self-time functions of a V8 .cpuprofile (as written by node --cpu-prof). */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  function: string;
  where: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  percent: number;
}

function shorten(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const root = u.indexOf('/services/') >= 0 ? u.indexOf('/services/') : u.indexOf('/packages/');
  return root >= 0 ? u.slice(root + 1) : u;
}

export function summariseProfile(file: string, top = 25): { busyMs: number; idleMs: number; gcMs: number; entries: ProfileEntry[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let idle = 0;
  let gc = 0;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    const fn = node.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') {
      idle += dt;
      return;
    }
    busy += dt;
    if (fn === '(garbage collector)') gc += dt;
    const where = node.callFrame.url ? `${shorten(node.callFrame.url)}:${node.callFrame.lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const entry = self.get(key) ?? { fn, where, us: 0 };
    entry.us += dt;
    self.set(key, entry);
  });
  const entries = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ function: e.fn, where: e.where, selfMs: Math.round(e.us / 100) / 10, percent: Math.round((e.us / busy) * 1000) / 10 }));
  return { busyMs: Math.round(busy / 1000), idleMs: Math.round(idle / 1000), gcMs: Math.round(gc / 1000), entries };
}

// `node bench/dist/profile-summary.js <file.cpuprofile> [top]` prints the table.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/dist/profile-summary.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const s = summariseProfile(file, Number(process.argv[3] ?? 30));
  process.stdout.write(`busy ${s.busyMs} ms, idle ${s.idleMs} ms, gc ${s.gcMs} ms\n`);
  for (const e of s.entries)
    process.stdout.write(`${e.percent.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(1).padStart(8)} ms  ${e.function}  ${e.where}\n`);
}

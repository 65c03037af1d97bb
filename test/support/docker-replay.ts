/**
 * Replays a Dockerfile without Docker, for test/docker-replay.test.ts: each stage gets a directory that
 * stands for its root filesystem; COPY copies what the build context (filtered by .dockerignore) or an
 * earlier stage holds; RUN runs in `sh` with the stage's WORKDIR, ARG and ENV, its absolute paths mapped
 * into the stage's directory. The build context is the working tree, as `docker build .` would send it.
 *
 * Not replayed: the base image (the host's node stands in for it), USER, and `npm cache clean` (it would
 * empty the machine's npm cache; in the image it only saves space).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

export interface Instruction {
  readonly op: string;
  readonly args: string;
}

export interface Stage {
  readonly name: string;
  readonly instructions: Instruction[];
}

/** Instructions of a Dockerfile by stage: continuation lines joined, comment lines dropped (as Docker does). */
export function parseDockerfile(text: string): { globalArgs: Record<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === 'FROM') {
      const as = /\s+AS\s+(\S+)\s*$/i.exec(args);
      stages.push({ name: as ? as[1]! : String(stages.length), instructions: [] });
    } else if (stages.length === 0) {
      if (op === 'ARG') {
        const [k, v] = splitAssignment(args);
        globalArgs[k] = v ?? '';
      }
    } else {
      stages[stages.length - 1]!.instructions.push({ op, args });
    }
  }
  return { globalArgs, stages };
}

function splitAssignment(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  return eq < 0 ? [text.trim(), undefined] : [text.slice(0, eq).trim(), text.slice(eq + 1).trim()];
}

/** `${NAME}` and `$NAME` expanded from vars, as Docker does for ENV and COPY. */
function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a?: string, b?: string) => vars[(a ?? b)!] ?? '');
}

/** .dockerignore as a matcher: Go filepath.Match patterns plus `**`, last match wins, `!` re-includes. */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i]!;
        if (c === '*' && pattern[i + 1] === '*') {
          re += '.*';
          i++;
          if (pattern[i + 1] === '/') {
            re = re.slice(0, -2) + '(?:.*/)?';
            i++;
          }
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      // A pattern that matches a directory excludes everything under it.
      return { negate, re: new RegExp(`^${re}(?:/.*)?$`) };
    });
  return (path) => {
    let excluded = false;
    for (const r of rules) if (r.re.test(path)) excluded = !r.negate;
    return excluded;
  };
}

export interface ReplayOptions {
  readonly contextDir: string;
  /** A scratch directory; each stage's root filesystem becomes `<workDir>/<stage>`. */
  readonly workDir: string;
  readonly buildArgs: Record<string, string>;
  /** Extra environment for RUN (e.g. npm's offline preference); the host's PATH is kept. */
  readonly runEnv?: Record<string, string>;
  /** Stop after this stage. */
  readonly target?: string;
  /** Stages already replayed (by name → root directory), reused instead of built again. */
  readonly reuse?: Record<string, string>;
}

export interface ReplayResult {
  /** Root directory of each replayed stage. */
  readonly roots: Record<string, string>;
  /** The last stage's CMD, its absolute paths mapped, and its ENV. */
  readonly cmd: string[];
  readonly env: Record<string, string>;
  readonly workdir: string;
}

export function replayDockerfile(dockerfile: string, options: ReplayOptions): ReplayResult {
  const { globalArgs, stages } = parseDockerfile(dockerfile);
  const ignored = dockerignore(readFileSync(join(options.contextDir, '.dockerignore'), 'utf8'));
  const roots: Record<string, string> = {};
  let cmd: string[] = [];
  let env: Record<string, string> = {};
  let workdir = '/';
  for (const stage of stages) {
    const root = join(options.workDir, stage.name);
    roots[stage.name] = root;
    const reused = options.reuse?.[stage.name];
    const vars: Record<string, string> = { ...globalArgs };
    env = {};
    workdir = '/';
    cmd = [];
    const at = (p: string) => join(root, p.startsWith('/') ? p : join(workdir, p));
    /** Absolute paths inside a shell command, moved under the stage's root: those the stage made, and any the host lacks. */
    const mapPaths = (command: string) => {
      const tops = new Set(readdirSync(root));
      const hostHas = (top: string) => existsUnder('/', top);
      return command.replace(/(^|[\s'"=>])\/([\w.-]+)/g, (m, pre: string, top: string) =>
        tops.has(top) || !hostHas(top) ? `${pre}${root}/${top}` : m,
      );
    };
    if (reused) {
      roots[stage.name] = reused;
      if (stage.name === options.target) break;
      continue;
    }
    mkdirSync(root, { recursive: true });
    for (const { op, args } of stage.instructions) {
      switch (op) {
        case 'ARG': {
          const [k, v] = splitAssignment(args);
          vars[k] = options.buildArgs[k] ?? v ?? globalArgs[k] ?? '';
          break;
        }
        case 'ENV': {
          for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) {
            const value = expand(m[2]!.replace(/^"|"$/g, ''), { ...vars, ...env });
            env[m[1]!] = value;
          }
          break;
        }
        case 'WORKDIR':
          workdir = expand(args, { ...vars, ...env });
          mkdirSync(at(workdir), { recursive: true });
          break;
        case 'COPY': {
          const words = args.split(/\s+/);
          const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
          const paths = words.filter((w) => !w.startsWith('--')).map((w) => expand(w, { ...vars, ...env }));
          const dest = paths.pop()!;
          for (const src of paths) {
            if (from !== undefined) {
              const fromRoot = roots[from];
              if (!fromRoot) throw new Error(`COPY --from=${from}: no such stage replayed`);
              copyInto(join(fromRoot, src), at(dest), src.endsWith('/') || dest.endsWith('/'));
            } else {
              copyContext(options.contextDir, src, at(dest), dest.endsWith('/') || paths.length > 1, ignored);
            }
          }
          break;
        }
        case 'RUN': {
          const command = mapPaths(args.replace(/\s*&&\s*npm cache clean --force/g, ''));
          const out = spawnSync('sh', ['-c', command], {
            cwd: at(workdir),
            encoding: 'utf8',
            env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/root', ...options.runEnv, ...vars, ...env },
            maxBuffer: 64 * 1024 * 1024,
          });
          if (out.status !== 0) throw new Error(`stage ${stage.name}: RUN ${args}\nexit ${out.status}\n${out.stdout}\n${out.stderr}`);
          break;
        }
        case 'CMD':
          cmd = (JSON.parse(args) as string[]).map((a) => (a.startsWith('/') && existsUnder(root, a) ? join(root, a) : a));
          break;
        default:
          // USER, STOPSIGNAL, LABEL, EXPOSE: nothing to replay outside a container.
          break;
      }
    }
    if (stage.name === options.target) break;
  }
  return { roots, cmd, env, workdir };
}

function existsUnder(root: string, p: string): boolean {
  try {
    statSync(join(root, p));
    return true;
  } catch {
    return false;
  }
}

/** COPY <context path> <dest>: files the .dockerignore does not exclude. */
function copyContext(contextDir: string, src: string, dest: string, destIsDir: boolean, ignored: (p: string) => boolean): void {
  const rel = relative(contextDir, join(contextDir, src));
  if (ignored(rel)) return;
  const abs = join(contextDir, rel);
  const target = destIsDir && !lstatSync(abs).isDirectory() ? join(dest, rel.split('/').pop()!) : dest;
  const walk = (from: string, to: string, relPath: string) => {
    const st = lstatSync(from);
    if (st.isDirectory()) {
      mkdirSync(to, { recursive: true });
      for (const name of readdirSync(from)) {
        const childRel = `${relPath}/${name}`;
        if (!ignored(childRel)) walk(join(from, name), join(to, name), childRel);
      }
    } else {
      mkdirSync(dirname(to), { recursive: true });
      cpSync(from, to);
    }
  };
  walk(abs, target, rel);
}

/** COPY --from=<stage>: a directory's contents (or one file) into dest; symlinks stay symlinks. */
function copyInto(src: string, dest: string, contents: boolean): void {
  if (lstatSync(src).isDirectory() && contents) {
    mkdirSync(dest, { recursive: true });
    for (const name of readdirSync(src)) cpSync(join(src, name), join(dest, name), { recursive: true, verbatimSymlinks: true });
  } else {
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(src, dest, { recursive: true, verbatimSymlinks: true });
  }
}

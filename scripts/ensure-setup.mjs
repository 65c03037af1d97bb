#!/usr/bin/env node
// Runs before `npm start` and `npm test` (npm's prestart/pretest): makes a fresh clone work with Node.js and the
// OS package manager alone. Installs npm dependencies when they are missing or stale, and the Debian packages
// the command needs (redis-server, mosquitto, prometheus for promtool) when they are missing, or says exactly
// what to install. Uses Node built-ins only: it runs before any dependency is installed.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const purpose = process.argv[2] ?? 'start';

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

function has(binary) {
  return ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin', ...(process.env.PATH ?? '').split(':')].some(
    (d) => d && existsSync(join(d, binary)),
  );
}

// 1. npm dependencies
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.log('[setup] installing npm dependencies (npm ci) ...');
  if (!run('npm', ['ci', '--no-audit', '--no-fund'])) process.exit(1);
}

// 2. system packages: binary -> Debian package
const wanted = [];
if (purpose === 'test')
  wanted.push(
    ['redis-server', 'redis-server', true],
    ['mosquitto', 'mosquitto', true],
    ['chromium', 'chromium', true],
    ['promtool', 'prometheus', false],
  );
else if (!process.env.REDIS_URL) wanted.push(['redis-server', 'redis-server', true]);
const missing = wanted.filter(([binary]) => !has(binary));
if (missing.length === 0) process.exit(0);

const packages = missing.map(([, pkg]) => pkg);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (has('apt-get') && isRoot) {
  console.log(`[setup] installing Debian packages: ${packages.join(' ')} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  for (const pkg of packages) spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { stdio: 'inherit', env });
}
const still = missing.filter(([binary]) => !has(binary));
const required = still.filter(([, , needed]) => needed);
for (const [binary, pkg, needed] of still) {
  const how = has('apt-get') ? `sudo apt-get install ${pkg}` : `install the "${pkg}" package with your OS package manager`;
  console.error(
    `[setup] ${needed ? 'missing' : 'optional, missing'}: ${binary} — ${how}${binary === 'redis-server' && purpose === 'start' ? ', or set REDIS_URL to a Redis you have' : ''}`,
  );
}
process.exit(required.length > 0 ? 1 : 0);

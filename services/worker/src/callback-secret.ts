/**
 * Prints an API key's own callback secret, for the operator to hand to the tenant (like the key itself):
 *
 *   printf '%s' "$RRPC_CALLBACK_MASTER_SECRET" | node services/worker/dist/callback-secret.js <key id | sha256:<hex>> <generation>
 *
 * The master secret is read from stdin (never from the command line, where `ps` would show it). The key id
 * is the first 12 hex digits of the key's SHA-256 (the keys file's "sha256:" entry, or `sha256sum` of the key).
 */
import { deriveCallbackSecret } from '@rrpc/jobs';

const [keyArg, generationArg] = process.argv.slice(2);
const keyId = /^sha256:[0-9a-fA-F]{64}$/.test(keyArg ?? '') ? keyArg!.slice(7, 19).toLowerCase() : (keyArg ?? '').toLowerCase();
const generation = Number(generationArg);
if (!/^[0-9a-f]{12}$/.test(keyId) || !/^\d{1,9}$/.test(generationArg ?? '') || generation < 1) {
  process.stderr.write(
    'usage: printf %s "$RRPC_CALLBACK_MASTER_SECRET" | callback-secret <key id (12 hex digits) | sha256:<64 hex digits>> <generation (1, 2, ...)>\n',
  );
  process.exit(2);
}
const chunks: Buffer[] = [];
process.stdin.on('data', (c: Buffer) => chunks.push(c));
process.stdin.on('end', () => {
  const master = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (master.length < 32) {
    process.stderr.write('callback-secret: the master secret on stdin must be at least 32 characters\n');
    process.exit(2);
  }
  process.stdout.write(`${deriveCallbackSecret(master, keyId, generation)}\n`);
});

import { createHash, timingSafeEqual } from 'node:crypto';

/** Accepts `Authorization: Bearer <secret>` for any of the given secrets, compared in constant time. */
export class BearerTokens {
  private readonly digests: Buffer[];

  constructor(secrets: readonly string[]) {
    this.digests = secrets.map(digest);
  }

  accepts(authorization: string | undefined): boolean {
    if (authorization === undefined || !authorization.startsWith('Bearer ')) return false;
    const presented = digest(authorization.slice(7).trim());
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, presented) || ok;
    return ok;
  }
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

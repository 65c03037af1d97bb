/**
 * Redis Cluster hash slots. A call's key must live in its device's slot so that call-begin touches one
 * slot; the message ID carries that slot, and a short hash tag that maps to the slot is drawn from a table.
 */
export const SLOT_COUNT = 16384;

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  TABLE[i] = crc;
}

const step = (crc: number, byte: number) => ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0);

/** CRC16-CCITT (XMODEM), as Redis Cluster uses for key slots (over the UTF-8 bytes of `data`). */
export function crc16(data: string): number {
  let crc = 0;
  // Identifiers are ASCII (checked by @rrpc/topics): read their bytes without allocating a Buffer per call.
  // eslint-disable-next-line no-control-regex -- the ASCII range starts at NUL
  if (/^[\x00-\x7f]*$/.test(data)) for (let i = 0; i < data.length; i++) crc = step(crc, data.charCodeAt(i));
  else for (const byte of Buffer.from(data, 'utf8')) crc = step(crc, byte);
  return crc;
}

/** The slot of a hash-tag's content. */
export function slotOf(tag: string): number {
  return crc16(tag) % SLOT_COUNT;
}

let tags: string[] | undefined;

/** A short string whose hash slot is `slot` (computed once, about 170k CRCs, a few tens of ms). */
export function tagForSlot(slot: number): string {
  if (tags === undefined) {
    const table: string[] = new Array<string>(SLOT_COUNT);
    let found = 0;
    for (let i = 0; found < SLOT_COUNT; i++) {
      const candidate = i.toString(36);
      const s = slotOf(candidate);
      if (table[s] === undefined) {
        table[s] = candidate;
        found++;
      }
    }
    tags = table;
  }
  const tag = tags[slot];
  if (tag === undefined) throw new RangeError(`slot ${slot} out of range`);
  return tag;
}

import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which IP addresses a callback may never reach: everything that is not a public unicast address.
 * IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the IPv4 address
 * they carry, so ::ffff:127.0.0.1 or 64:ff9b::a9fe:a9fe are refused like 127.0.0.1 and 169.254.169.254.
 */
type Range = readonly [bytes: readonly number[], prefixBits: number, reason: string];

const V4: readonly Range[] = [
  [[0, 0, 0, 0], 8, 'unspecified ("this network")'],
  [[10, 0, 0, 0], 8, 'private'],
  [[100, 64, 0, 0], 10, 'shared address space (CGNAT)'],
  [[127, 0, 0, 0], 8, 'loopback'],
  [[169, 254, 0, 0], 16, 'link-local (cloud metadata)'],
  [[172, 16, 0, 0], 12, 'private'],
  [[192, 0, 0, 0], 24, 'IETF protocol assignments'],
  [[192, 0, 2, 0], 24, 'documentation'],
  [[192, 88, 99, 0], 24, '6to4 relay anycast'],
  [[192, 168, 0, 0], 16, 'private'],
  [[198, 18, 0, 0], 15, 'benchmarking'],
  [[198, 51, 100, 0], 24, 'documentation'],
  [[203, 0, 113, 0], 24, 'documentation'],
  [[224, 0, 0, 0], 4, 'multicast'],
  [[240, 0, 0, 0], 4, 'reserved or broadcast'],
];

const V6: readonly Range[] = [
  [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 128, 'unspecified'],
  [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128, 'loopback'],
  [[0x00, 0x64, 0xff, 0x9b, 0, 1], 48, 'local-use NAT64'],
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'discard-only'],
  [[0x20, 0x01, 0x00, 0x00], 23, 'IETF protocol assignments (Teredo included)'],
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'documentation'],
  [[0x3f, 0xff], 20, 'documentation'],
  [[0xfc], 7, 'unique-local (cloud metadata fd00:ec2::254 included)'],
  [[0xfe, 0x80], 10, 'link-local'],
  [[0xfe, 0xc0], 10, 'site-local'],
  [[0xff], 8, 'multicast'],
];

function within(address: readonly number[], [prefix, bits]: Range): boolean {
  for (let bit = 0; bit < bits; bit += 8) {
    const want = prefix[bit / 8] ?? 0;
    const have = address[bit / 8] ?? 0;
    const mask = bits - bit >= 8 ? 0xff : (0xff << (8 - (bits - bit))) & 0xff;
    if ((want & mask) !== (have & mask)) return false;
  }
  return true;
}

function v4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** The 16 bytes of an IPv6 address (already checked by isIPv6), a trailing dotted IPv4 part included. */
function v6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = v4Bytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = text.split('::', 2) as [string, string | undefined];
  const words = (part: string) => (part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)));
  const front = words(head);
  const back = rest === undefined ? [] : words(rest);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = all.flatMap((w) => [w >> 8, w & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

function v4Reason(bytes: readonly number[]): string | undefined {
  return V4.find((range) => within(bytes, range))?.[2];
}

/** The IPv4 address an IPv6 address carries: mapped, compatible, NAT64 (64:ff9b::/96) or 6to4 (2002::/16). */
function embeddedV4(bytes: readonly number[]): number[] | undefined {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12, 16); // ::ffff:a.b.c.d
  if (zeros(0, 12)) return bytes.slice(12, 16); // ::a.b.c.d (deprecated compatible form)
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12)) return bytes.slice(12, 16);
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6);
  return undefined;
}

/**
 * Why a callback may not go to this IP address (e.g. "loopback"), or undefined for a public unicast address.
 * Anything that is not a well-formed IPv4 or IPv6 address is refused too.
 */
export function forbiddenAddress(address: string): string | undefined {
  if (isIPv4(address)) return v4Reason(v4Bytes(address));
  if (!isIPv6(address)) return 'not an IP address';
  const bytes = v6Bytes(address);
  const listed = V6.find((range) => within(bytes, range))?.[2];
  if (listed !== undefined) return listed;
  const v4 = embeddedV4(bytes);
  if (v4 !== undefined) {
    const reason = v4Reason(v4);
    return reason === undefined ? undefined : `${reason} (an IPv4 address in IPv6 form)`;
  }
  return undefined;
}

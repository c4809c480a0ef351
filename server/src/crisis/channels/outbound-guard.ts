import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

// Outbound requests to addresses that users choose (web push endpoints) must not reach the
// institution's internal network (SSRF). Private, loopback, link-local and other special
// ranges are refused unless the operator lists them in `outbound_allow_ranges`. The check runs
// on the resolved address at connect time, so a name that resolves differently later (DNS
// rebinding) is caught too.

const specialV4: [string, number][] = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const specialV6: [string, number][] = [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
];

export class OutboundRefusedError extends Error {
  readonly code = 'EOUTBOUNDREFUSED';
}

/** Parses "10.1.0.0/16", "192.168.1.5" or "fd00::/8"; throws on anything else. */
function addRange(list: BlockList, range: string): void {
  const [address = '', prefixText] = range.trim().split('/');
  const family = isIP(address);
  if (family === 0) throw new Error(`"${range}" is not an address range`);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`"${range}" has a bad prefix length`);
  list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
}

export class OutboundGuard {
  readonly #special = new BlockList();
  readonly #allowed = new BlockList();

  constructor(allowRanges: readonly string[] = []) {
    for (const [a, p] of specialV4) this.#special.addSubnet(a, p, 'ipv4');
    for (const [a, p] of specialV6) this.#special.addSubnet(a, p, 'ipv6');
    for (const range of allowRanges) addRange(this.#allowed, range);
  }

  isAllowed(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    // An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (mapped) return this.isAllowed(mapped);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    return !this.#special.check(address, type) || this.#allowed.check(address, type);
  }

  /** For a URL whose host is an address: connecting to it skips the lookup below. */
  checkHost(hostname: string): void {
    const host = hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !this.isAllowed(host)) throw new OutboundRefusedError(`outbound connections to ${host} are not allowed`);
  }

  /** A dns lookup for net/tls/undici connect options that only yields allowed addresses. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return (callback as (e: Error) => void)(err);
      const allowed = addresses.filter((a) => this.isAllowed(a.address));
      if (allowed.length === 0) {
        return (callback as (e: Error) => void)(new OutboundRefusedError(`${hostname} resolves only to addresses outside outbound_allow_ranges`));
      }
      if (options.all) (callback as (e: null, a: LookupAddress[]) => void)(null, allowed);
      else callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

// Test vectors from the spec appendix "Cryptographic Test Vectors".

import { decodeBase64 } from '../../../src/matrix/events/base64.ts';
import type { SigningKey } from '../../../src/matrix/events/signing.ts';

export const SERVER_NAME = 'domain';

export function specSigningKey(): SigningKey {
  return { keyId: 'ed25519:1', seed: decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1') };
}

export const SIG_EMPTY_OBJECT =
  'K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ';
export const SIG_ONE_TWO =
  'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw';

/** "Given the following minimally-sized event" */
export function minimalEvent() {
  return {
    room_id: '!x:domain',
    sender: '@a:domain',
    origin: 'domain',
    origin_server_ts: 1000000,
    signatures: {},
    hashes: {},
    type: 'X',
    content: {},
    prev_events: [],
    auth_events: [],
    depth: 3,
    unsigned: { age_ts: 1000000 },
  };
}
export const MINIMAL_EVENT_HASH = '5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos';
export const MINIMAL_EVENT_SIG =
  'KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg';

/** "Given the following event containing redactable content" (old, event_id-carrying format). */
export function redactableEvent() {
  return {
    content: { body: 'Here is the message content' },
    event_id: '$0:domain',
    origin: 'domain',
    origin_server_ts: 1000000,
    type: 'm.room.message',
    room_id: '!r:domain',
    sender: '@u:domain',
    signatures: {},
    unsigned: { age_ts: 1000000 },
  };
}
export const REDACTABLE_EVENT_HASH = 'onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g';
export const REDACTABLE_EVENT_SIG =
  'Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA';

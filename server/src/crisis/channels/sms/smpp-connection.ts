import smpp, { type PDU, type Session } from 'smpp';
import type { Logger } from '../../../logger.ts';

// One SMPP session bound as a transceiver, kept alive: enquire_link while idle, a new TCP
// connection and bind with exponential backoff whenever it drops, and every request given a
// deadline so that a stalled SMSC surfaces as an error rather than a hang.

export interface SmppEndpoint {
  host: string;
  port: number;
  tls: boolean;
  systemId: string;
  password: string;
}

/** smpp://system_id:password@host:2775 (ssmpp:// for TLS, 3550 by default). */
export function parseSmppUrl(url: string): SmppEndpoint {
  const u = new URL(url);
  if (u.protocol !== 'smpp:' && u.protocol !== 'ssmpp:') throw new Error('must be smpp://system_id:password@host:port');
  if (!u.hostname || !u.username) throw new Error('must be smpp://system_id:password@host:port');
  const tls = u.protocol === 'ssmpp:';
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : tls ? 3550 : 2775,
    tls,
    systemId: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

export interface SmppConnectionOptions {
  endpoint: SmppEndpoint;
  systemType?: string;
  enquireLinkMs: number;
  responseTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Requests from the SMSC (deliver_sm, data_sm); the handler must answer them. */
  onRequest(pdu: PDU): void;
  logger?: Logger | undefined;
}

/** The link is down or the SMSC did not answer in time: the request may be retried. */
export class SmppLinkError extends Error {}

const statusNames = new Map(Object.entries(smpp.errors).map(([name, code]) => [code, name]));

export function smppStatusName(status: number): string {
  return statusNames.get(status) ?? `0x${status.toString(16).padStart(8, '0')}`;
}

type State = 'idle' | 'connecting' | 'bound' | 'closed';

interface Pending {
  reject(err: Error): void;
}

export class SmppConnection {
  readonly #o: SmppConnectionOptions;
  #state: State = 'idle';
  #session: Session | undefined;
  #attempts = 0;
  #lastError: string | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #enquireTimer: NodeJS.Timeout | undefined;
  #pending = new Set<Pending>();
  #boundWaiters = new Set<() => void>();

  constructor(options: SmppConnectionOptions) {
    this.#o = options;
  }

  get bound(): boolean {
    return this.#state === 'bound';
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  start(): void {
    if (this.#state === 'idle') this.#connect();
  }

  /** Resolves true once bound, false when the wait runs out first. */
  async waitBound(timeoutMs: number): Promise<boolean> {
    this.start();
    if (this.bound) return true;
    if (this.#state === 'closed') return false;
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.#boundWaiters.delete(wake);
        resolve(value);
      };
      const wake = () => done(this.bound);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#boundWaiters.add(wake);
    });
  }

  /** Sends a request PDU and resolves with its response, whatever its command_status. */
  request(command: string, fields: Record<string, unknown>, timeoutMs = this.#o.responseTimeoutMs): Promise<PDU> {
    const session = this.#session;
    if (!session || (this.#state !== 'bound' && command !== 'bind_transceiver')) {
      return Promise.reject(new SmppLinkError('SMSC not bound'));
    }
    return new Promise<PDU>((resolve, reject) => {
      const pending: Pending = {
        reject: (err) => {
          clearTimeout(timer);
          this.#pending.delete(pending);
          reject(err);
        },
      };
      const timer = setTimeout(() => pending.reject(new SmppLinkError(`no ${command}_resp within ${timeoutMs} ms`)), timeoutMs);
      this.#pending.add(pending);
      const sent = session.send(new smpp.PDU(command, fields), (resp) => {
        clearTimeout(timer);
        this.#pending.delete(pending);
        resolve(resp);
      });
      if (!sent) pending.reject(new SmppLinkError('SMSC connection not writable'));
    });
  }

  respond(pdu: PDU, fields: Record<string, unknown> = {}): void {
    this.#session?.send(pdu.response(fields));
  }

  async close(): Promise<void> {
    const wasBound = this.bound;
    this.#state = 'closed';
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#enquireTimer);
    for (const wake of this.#boundWaiters) wake();
    const session = this.#session;
    if (!session) return;
    if (wasBound) {
      // A polite unbind lets the SMSC route receipts elsewhere at once; it may not answer.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        const sent = session.send(new smpp.PDU('unbind', {}), () => {
          clearTimeout(timer);
          resolve();
        });
        if (!sent) resolve();
      });
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => session.destroy(), 1000);
      session.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (session.socket.destroyed) resolve();
      else session.close();
    });
    this.#failPending(new SmppLinkError('SMPP connection closed'));
  }

  #connect(): void {
    const { endpoint, logger } = this.#o;
    this.#state = 'connecting';
    const session = smpp.connect({ host: endpoint.host, port: endpoint.port, tls: endpoint.tls });
    this.#session = session;
    session.on(endpoint.tls ? 'secureConnect' : 'connect', () => this.#bind(session));
    session.on('error', (err: Error) => {
      this.#lastError = err.message;
      // A PDU the codec cannot read leaves the stream in an unknown place: start over.
      session.destroy();
    });
    session.on('close', () => this.#onClose(session));
    session.on('pdu', (pdu: PDU) => this.#onPdu(session, pdu));
    logger?.debug({ host: endpoint.host, port: endpoint.port }, 'SMPP connecting');
  }

  #bind(session: Session): void {
    const { endpoint, logger } = this.#o;
    this.request('bind_transceiver', {
      system_id: endpoint.systemId,
      password: endpoint.password,
      system_type: this.#o.systemType ?? '',
      interface_version: 0x34,
    }).then(
      (resp) => {
        if (session !== this.#session || this.#state === 'closed') return;
        if (resp.command_status !== 0) {
          this.#lastError = `bind refused: ${smppStatusName(resp.command_status)}`;
          // Wrong credentials do not heal by hammering: wait the longest delay.
          this.#attempts = Math.max(this.#attempts, 30);
          logger?.warn({ host: endpoint.host, status: smppStatusName(resp.command_status) }, 'SMPP bind refused');
          session.destroy();
          return;
        }
        this.#state = 'bound';
        this.#attempts = 0;
        this.#lastError = undefined;
        this.#enquireTimer = setInterval(() => this.#enquire(session), this.#o.enquireLinkMs);
        logger?.info({ host: endpoint.host, port: endpoint.port, systemId: endpoint.systemId }, 'SMPP bound as transceiver');
        for (const wake of this.#boundWaiters) wake();
      },
      (err: Error) => {
        this.#lastError = `bind failed: ${err.message}`;
        session.destroy();
      },
    );
  }

  #enquire(session: Session): void {
    this.request('enquire_link', {}).catch((err: Error) => {
      this.#lastError = `keep-alive failed: ${err.message}`;
      session.destroy();
    });
  }

  #onPdu(session: Session, pdu: PDU): void {
    if (pdu.isResponse() || session !== this.#session) return;
    switch (pdu.command) {
      case 'enquire_link':
        session.send(pdu.response());
        return;
      case 'unbind':
        session.send(pdu.response());
        session.close();
        return;
      case 'deliver_sm':
      case 'data_sm':
        this.#o.onRequest(pdu);
        return;
      default:
        // Anything else is answered as not supported (generic_nack for unknown commands).
        session.send(pdu.response({ command_status: smpp.errors.ESME_RINVCMDID }));
    }
  }

  #onClose(session: Session): void {
    if (session !== this.#session) return;
    clearInterval(this.#enquireTimer);
    this.#failPending(new SmppLinkError(`SMPP connection lost${this.#lastError ? ` (${this.#lastError})` : ''}`));
    if (this.#state === 'closed') return;
    this.#state = 'connecting';
    this.#session = undefined;
    const base = Math.min(this.#o.reconnectMaxMs, this.#o.reconnectMinMs * 2 ** Math.min(this.#attempts, 30));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#attempts += 1;
    this.#o.logger?.warn({ host: this.#o.endpoint.host, delayMs: delay, reason: this.#lastError }, 'SMPP link down, reconnecting');
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  #failPending(err: Error): void {
    for (const p of [...this.#pending]) p.reject(err);
  }
}

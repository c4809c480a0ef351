import type { AddressInfo } from 'node:net';
import smpp, { type PDU, type Session, type SmppServer } from 'smpp';

// A test SMSC on 127.0.0.1, built on the server side of the `smpp` package: it accepts
// bind_transceiver with one system_id/password, records every submit_sm as the package decodes
// it (GSM-7 or UCS-2, user data header), reassembles concatenated messages, answers with
// message ids, and can send delivery receipts and replies ("OK 1234") to the bound client. It
// can be told to refuse the next submits with a status (throttling, bad number), and be
// stopped and restarted on the same port as a real SMSC going down.

export interface SubmitRecord {
  from: string;
  to: string;
  dataCoding: number;
  esmClass: number;
  registeredDelivery: number;
  priority: number;
  text: string;
  /** Concatenation info from the UDH or the sar_* TLVs. */
  concat: { ref: number; total: number; seq: number } | undefined;
  messageId: string;
}

export interface ReceivedSms {
  from: string;
  to: string;
  text: string;
  dataCoding: number;
  parts: SubmitRecord[];
}

export class TestSmsc {
  readonly systemId: string;
  readonly password: string;
  readonly submits: SubmitRecord[] = [];
  readonly messages: ReceivedSms[] = [];
  binds = 0;
  bindFailures = 0;
  enquireLinks = 0;
  unbinds = 0;
  /** Delay before each submit_sm_resp, to see the client's in-flight window at work. */
  responseDelayMs = 0;
  /** The most submit_sm ever awaiting their response at once. */
  maxOutstanding = 0;
  #outstanding = 0;
  #server: SmppServer | undefined;
  #port = 0;
  #nextId = 0x1000;
  #refusals: number[] = [];
  #partial = new Map<string, SubmitRecord[]>();
  #bound = new Set<Session>();
  #waiters: (() => void)[] = [];

  private constructor(systemId: string, password: string) {
    this.systemId = systemId;
    this.password = password;
  }

  static async start(options: { systemId?: string; password?: string } = {}): Promise<TestSmsc> {
    const smsc = new TestSmsc(options.systemId ?? 'tocsin', options.password ?? 'smpp-pw');
    await smsc.#listen(0);
    return smsc;
  }

  get port(): number {
    return this.#port;
  }

  get boundSessions(): number {
    return this.#bound.size;
  }

  url(systemId = this.systemId, password = this.password): string {
    return `smpp://${encodeURIComponent(systemId)}:${encodeURIComponent(password)}@127.0.0.1:${this.#port}`;
  }

  /** The next `times` submit_sm are answered with this status (e.g. ESME_RTHROTTLED). */
  refuseNext(status: number, times = 1): void {
    for (let i = 0; i < times; i++) this.#refusals.push(status);
  }

  async waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for the SMSC');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedSms[]> {
    await this.waitFor(() => this.messages.length >= count, timeoutMs);
    return this.messages;
  }

  /** Sends a delivery receipt; resolves with the client's deliver_sm_resp status. */
  sendReceipt(messageId: string, stat: string, options: { tlv?: boolean; text?: string } = {}): Promise<number> {
    const text = options.text ?? `id:${messageId} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} submit date:2511250930 done date:2511250931 stat:${stat} err:000 text:`;
    const fields: Record<string, unknown> = { source_addr: '33612345678', destination_addr: 'TOCSIN', esm_class: 0x04, short_message: text };
    if (options.tlv) {
      fields.receipted_message_id = messageId;
      fields.message_state = stat === 'DELIVRD' ? 2 : 5;
    }
    return this.#deliver(fields);
  }

  /** Sends a mobile-originated text from a phone; resolves with the deliver_sm_resp status. */
  sendMo(from: string, text: string, options: { ucs2?: boolean; ton?: number } = {}): Promise<number> {
    return this.#deliver({
      source_addr_ton: options.ton ?? 1,
      source_addr_npi: 1,
      source_addr: from.replace(/^\+/, ''),
      destination_addr: 'TOCSIN',
      esm_class: 0,
      data_coding: options.ucs2 ? 8 : 0,
      short_message: text,
    });
  }

  /**
   * Sends a long mobile-originated text as concatenated segments (one deliver_sm each), marked
   * by a UDH with an 8-bit (IE 0x00) or 16-bit (IE 0x08) reference, or by the sar_* TLVs;
   * `order` gives the order the segments go in (0-based). Resolves with each deliver_sm_resp status.
   */
  async sendMoSegments(
    from: string,
    segments: string[],
    options: { ref?: number; mode?: 'udh8' | 'udh16' | 'sar'; ucs2?: boolean; order?: number[] } = {},
  ): Promise<number[]> {
    const ref = options.ref ?? 0x42;
    const mode = options.mode ?? 'udh8';
    const total = segments.length;
    const statuses: number[] = [];
    for (const i of options.order ?? segments.map((_, j) => j)) {
      const fields: Record<string, unknown> = {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: from.replace(/^\+/, ''),
        destination_addr: 'TOCSIN',
        esm_class: 0,
        data_coding: options.ucs2 ? 8 : 0,
      };
      if (mode === 'sar') {
        Object.assign(fields, { short_message: segments[i]!, sar_msg_ref_num: ref, sar_total_segments: total, sar_segment_seqnum: i + 1 });
      } else {
        const udh = mode === 'udh8'
          ? Buffer.from([0x05, 0x00, 0x03, ref & 0xff, total, i + 1])
          : Buffer.from([0x06, 0x08, 0x04, (ref >> 8) & 0xff, ref & 0xff, total, i + 1]);
        fields.short_message = { udh, message: segments[i]! };
      }
      statuses.push(await this.#deliver(fields));
    }
    return statuses;
  }

  /** Drops every session and stops listening, as a crashed SMSC. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const session of [...server.sessions]) session.destroy();
    this.#bound.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.#listen(this.#port);
  }

  #deliver(fields: Record<string, unknown>): Promise<number> {
    const session = [...this.#bound].at(-1);
    if (!session) return Promise.reject(new Error('no bound client'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no deliver_sm_resp')), 5000);
      session.send(new smpp.PDU('deliver_sm', fields), (resp) => {
        clearTimeout(timer);
        resolve(resp.command_status);
      });
    });
  }

  #onSession(session: Session): void {
    session.on('error', () => session.destroy());
    session.on('close', () => this.#bound.delete(session));
    session.on('bind_transceiver', (pdu: PDU) => {
      if (pdu.system_id !== this.systemId || pdu.password !== this.password) {
        this.bindFailures += 1;
        const status = pdu.system_id !== this.systemId ? smpp.errors.ESME_RINVSYSID : smpp.errors.ESME_RINVPASWD;
        session.send(pdu.response({ command_status: status }));
        return;
      }
      this.binds += 1;
      this.#bound.add(session);
      session.send(pdu.response({ system_id: 'TESTSMSC' }));
      this.#wake();
    });
    session.on('enquire_link', (pdu: PDU) => {
      this.enquireLinks += 1;
      session.send(pdu.response());
    });
    session.on('unbind', (pdu: PDU) => {
      this.unbinds += 1;
      this.#bound.delete(session);
      session.send(pdu.response());
      session.close();
    });
    session.on('submit_sm', (pdu: PDU) => {
      if (!this.#bound.has(session)) {
        session.send(pdu.response({ command_status: smpp.errors.ESME_RINVBNDSTS }));
        return;
      }
      const refusal = this.#refusals.shift();
      if (refusal !== undefined) {
        session.send(pdu.response({ command_status: refusal }));
        this.#wake();
        return;
      }
      const messageId = (this.#nextId++).toString(16).toUpperCase();
      this.#record(pdu, messageId);
      this.#outstanding += 1;
      this.maxOutstanding = Math.max(this.maxOutstanding, this.#outstanding);
      setTimeout(() => {
        this.#outstanding -= 1;
        session.send(pdu.response({ message_id: messageId }));
      }, this.responseDelayMs);
    });
  }

  #record(pdu: PDU, messageId: string): void {
    const sm = pdu.short_message as { message?: unknown; udh?: Buffer[] } | undefined;
    const message = sm?.message;
    const record: SubmitRecord = {
      from: String(pdu.source_addr),
      to: String(pdu.destination_addr),
      dataCoding: Number(pdu.data_coding),
      esmClass: Number(pdu.esm_class),
      registeredDelivery: Number(pdu.registered_delivery),
      priority: Number(pdu.priority_flag),
      text: typeof message === 'string' ? message : Buffer.isBuffer(message) ? message.toString('latin1') : '',
      concat: concatInfo(pdu, sm?.udh),
      messageId,
    };
    this.submits.push(record);
    if (!record.concat) {
      this.messages.push({ from: record.from, to: record.to, text: record.text, dataCoding: record.dataCoding, parts: [record] });
    } else {
      const key = `${record.from}|${record.to}|${record.concat.ref}`;
      const parts = [...(this.#partial.get(key) ?? []), record];
      this.#partial.set(key, parts);
      if (parts.length === record.concat.total) {
        this.#partial.delete(key);
        parts.sort((a, b) => a.concat!.seq - b.concat!.seq);
        const text = parts.map((p) => p.text).join('');
        this.messages.push({ from: record.from, to: record.to, text, dataCoding: record.dataCoding, parts });
      }
    }
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  async #listen(port: number): Promise<void> {
    const server = smpp.createServer({}, (session) => this.#onSession(session));
    // Socket errors of a killed client surface per session (handled in #onSession) and, for a
    // connection reset before its session exists, on the server.
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }
}

function concatInfo(pdu: PDU, udh: Buffer[] | undefined): SubmitRecord['concat'] {
  for (const ie of udh ?? []) {
    if (ie[0] === 0x00 && ie[1] === 3) return { ref: ie[2]!, total: ie[3]!, seq: ie[4]! };
    if (ie[0] === 0x08 && ie[1] === 4) return { ref: ie.readUInt16BE(2), total: ie[4]!, seq: ie[5]! };
  }
  if (typeof pdu.sar_msg_ref_num === 'number') {
    return { ref: pdu.sar_msg_ref_num, total: Number(pdu.sar_total_segments), seq: Number(pdu.sar_segment_seqnum) };
  }
  return undefined;
}

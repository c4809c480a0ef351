import smpp, { type PDU } from 'smpp';
import type { Logger } from '../../../logger.ts';
import {
  PermanentChannelError,
  TransientChannelError,
  type ChannelAdapter,
  type ChannelEvents,
  type ChannelHealth,
  type Delivery,
  type SendResult,
} from '../channel.ts';
import { isDeliveryReceipt, parseDeliveryReceipt } from './delivery-receipt.ts';
import { encodeGsm7, encodeUcs2, splitSegments } from './gsm.ts';
import { SmsMessageIdStore } from './message-id-store.ts';
import { concatOf, MoReassembly } from './mo-reassembly.ts';
import { isE164, sourceAddress, toE164, TON_INTERNATIONAL } from './phone.ts';
import { parseSmppUrl, SmppConnection, smppStatusName } from './smpp-connection.ts';
import { composeSms } from './sms-text.ts';
import { SubmitWindow } from './submit-window.ts';

export interface SmppChannelOptions {
  /** smpp://system_id:password@host:2775 (ssmpp:// for TLS) */
  url: string;
  /** The sender shown on phones: up to 11 letters ("TOCSIN") or a number. */
  source: string;
  events: ChannelEvents;
  /** submit_sm awaiting their response at most (10 by default). */
  maxInFlight?: number;
  /** submit_sm per second at most (20 by default; each part of a long SMS counts). */
  messagesPerSecond?: number;
  enquireLinkMs?: number;
  responseTimeoutMs?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** How long a send waits for the session to (re)bind before giving up as transient. */
  bindWaitMs?: number;
  /** How long health() waits for a first bind. */
  healthWaitMs?: number;
  /** Concatenation by user data header (default) or by the sar_* TLVs some SMSCs want. */
  concatenation?: 'udh' | 'sar';
  maxSegments?: number;
  /** Country calling code ("33") to read national numbers in replies. */
  countryCode?: string;
  systemType?: string;
  /** Where the SMSC's message ids are kept for delivery receipts (the database in service; memory when unset). */
  messageIds?: SmsMessageIdStore;
  logger?: Logger;
}

const e = smpp.errors;
// Statuses that say "not now": the SMSC is busy, or something on its side failed. Everything
// else (bad number, bad coding, refused content) will fail the same way again.
const transientStatuses = new Set([
  e.ESME_RTHROTTLED, e.ESME_RMSGQFUL, e.ESME_RSYSERR, e.ESME_RSUBMITFAIL, e.ESME_RX_T_APPN, e.ESME_RINVBNDSTS, e.ESME_RUNKNOWNERR,
]);
const throttleStatuses = new Set([e.ESME_RTHROTTLED, e.ESME_RMSGQFUL]);
const THROTTLE_PAUSE_MS = 1000;
const ESM_UDH_INDICATOR = 0x40;
const DATA_CODING_GSM7 = 0x00;
const DATA_CODING_UCS2 = 0x08;

export class SmppChannel implements ChannelAdapter {
  readonly name = 'sms' as const;
  readonly #o: SmppChannelOptions;
  readonly #connection: SmppConnection;
  readonly #window: SubmitWindow;
  readonly #source: ReturnType<typeof sourceAddress>;
  readonly #messageIds: SmsMessageIdStore;
  readonly #mo = new MoReassembly();
  #reference = Math.floor(Math.random() * 0x10000);

  constructor(options: SmppChannelOptions) {
    this.#o = options;
    this.#source = sourceAddress(options.source);
    this.#messageIds = options.messageIds ?? new SmsMessageIdStore();
    this.#window = new SubmitWindow({ maxInFlight: options.maxInFlight ?? 10, perSecond: options.messagesPerSecond ?? 20 });
    this.#connection = new SmppConnection({
      endpoint: parseSmppUrl(options.url),
      systemType: options.systemType,
      enquireLinkMs: options.enquireLinkMs ?? 30_000,
      responseTimeoutMs: options.responseTimeoutMs ?? 10_000,
      reconnectMinMs: options.reconnectMinMs ?? 1000,
      reconnectMaxMs: options.reconnectMaxMs ?? 60_000,
      onRequest: (pdu) => void this.#onRequest(pdu),
      logger: options.logger,
    });
  }

  /** Binds now rather than at the first send, so that replies and receipts come in. */
  start(): void {
    this.#connection.start();
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const phone = delivery.recipient.phone?.trim();
    if (!phone) throw new PermanentChannelError('recipient has no phone number');
    if (!isE164(phone)) throw new PermanentChannelError('recipient phone number is not E.164');
    const { encoding, parts } = splitSegments(composeSms(delivery, { maxSegments: this.#o.maxSegments ?? 1 }));
    if (!(await this.#connection.waitBound(this.#o.bindWaitMs ?? 5000))) {
      throw new TransientChannelError(`SMSC not bound (${this.#connection.lastError ?? 'connecting'})`);
    }
    const reference = this.#nextReference();
    const ids: string[] = [];
    // Parts go one after another: a refused part stops the rest, and phones get them in order.
    for (let i = 0; i < parts.length; i++) {
      const text = parts[i]!;
      const payload = encoding === 'gsm7' ? encodeGsm7(text) : encodeUcs2(text);
      const fields: Record<string, unknown> = {
        source_addr_ton: this.#source.ton,
        source_addr_npi: this.#source.npi,
        source_addr: this.#source.addr,
        dest_addr_ton: TON_INTERNATIONAL,
        dest_addr_npi: 1,
        destination_addr: phone.slice(1),
        esm_class: 0,
        priority_flag: delivery.alert.severity === 'critical' ? 1 : 0,
        registered_delivery: 1, // a receipt for success and failure
        data_coding: encoding === 'gsm7' ? DATA_CODING_GSM7 : DATA_CODING_UCS2,
        short_message: payload,
      };
      if (parts.length > 1) this.#concatenate(fields, payload, reference, parts.length, i + 1);
      ids.push(await this.#submit(fields));
    }
    // Stored before the step is recorded as sent: every part's receipt finds this delivery,
    // also after a restart (message-id-store.ts).
    await this.#messageIds.remember(ids, delivery.deliveryId);
    return { state: 'sent', externalId: ids[0]! };
  }

  async health(): Promise<ChannelHealth> {
    const bound = await this.#connection.waitBound(this.#o.healthWaitMs ?? 3000);
    return bound ? { ok: true, detail: 'bound' } : { ok: false, detail: this.#connection.lastError ?? 'not bound' };
  }

  async close(): Promise<void> {
    this.#window.close();
    await this.#connection.close();
  }

  #concatenate(fields: Record<string, unknown>, payload: Buffer, reference: number, total: number, seq: number): void {
    if (this.#o.concatenation === 'sar') {
      fields.sar_msg_ref_num = reference;
      fields.sar_total_segments = total;
      fields.sar_segment_seqnum = seq;
      return;
    }
    // UDH: length 5, IE "concatenated short messages, 8-bit reference" (0x00), 3 octets.
    const udh = Buffer.from([0x05, 0x00, 0x03, reference & 0xff, total, seq]);
    fields.esm_class = ESM_UDH_INDICATOR;
    fields.short_message = Buffer.concat([udh, payload]);
  }

  async #submit(fields: Record<string, unknown>): Promise<string> {
    let release: (() => void) | undefined;
    let resp: PDU;
    try {
      release = await this.#window.acquire();
      resp = await this.#connection.request('submit_sm', fields);
    } catch (err) {
      throw new TransientChannelError(`SMPP submit failed: ${(err as Error).message}`);
    } finally {
      release?.();
    }
    const status = resp.command_status;
    if (status === 0) return String(resp.message_id ?? '');
    const name = smppStatusName(status);
    if (throttleStatuses.has(status)) {
      this.#window.pause(THROTTLE_PAUSE_MS);
      throw new TransientChannelError(`SMSC throttling: ${name}`, THROTTLE_PAUSE_MS);
    }
    if (transientStatuses.has(status)) throw new TransientChannelError(`SMSC refused for now: ${name}`);
    throw new PermanentChannelError(`SMSC refused: ${name}`);
  }

  async #onRequest(pdu: PDU): Promise<void> {
    let status = 0;
    try {
      if (isDeliveryReceipt(Number(pdu.esm_class ?? 0))) await this.#onReceipt(pdu);
      else if ((Number(pdu.esm_class ?? 0) & 0x3c) === 0) await this.#onMobileOriginated(pdu);
      // Other message types (intermediate notifications, user acks) need nothing from us.
    } catch (err) {
      // A temporary error makes the SMSC deliver it again later rather than lose a reply.
      status = e.ESME_RX_T_APPN!;
      this.#o.logger?.warn({ err: (err as Error).message }, 'SMS inbound handling failed');
    }
    // Responses to data_sm carry a message_id too; deliver_sm_resp's is left empty.
    if (status !== 0) this.#connection.respond(pdu, { command_status: status });
    else this.#connection.respond(pdu);
  }

  async #onReceipt(pdu: PDU): Promise<void> {
    const receipt = parseDeliveryReceipt(messageText(pdu), {
      receiptedMessageId: pdu.receipted_message_id,
      messageState: pdu.message_state,
    });
    if (!receipt || !receipt.final) return;
    const ref = await this.#messageIds.lookup(receipt.messageId);
    await this.#o.events.delivered('sms', ref?.firstId ?? receipt.messageId, receipt.ok, receipt.stat, ref?.deliveryId);
  }

  async #onMobileOriginated(pdu: PDU): Promise<void> {
    const from = toE164(String(pdu.source_addr ?? ''), Number(pdu.source_addr_ton ?? 0), this.#o.countryCode);
    const text = messageText(pdu);
    const udh = (pdu.short_message as { udh?: Buffer[] } | undefined)?.udh;
    const part = concatOf(Array.isArray(udh) ? udh : undefined, pdu as Record<string, unknown>);
    if (!part) {
      await this.#o.events.reply('sms', from, text.trim());
      return;
    }
    // One segment of a long text: the reply is read once every segment is in.
    const whole = this.#mo.add(from, part, text);
    if (whole === undefined) return;
    await this.#o.events.reply('sms', from, whole.trim());
    this.#mo.done(from, part);
  }

  #nextReference(): number {
    this.#reference = (this.#reference + 1) & (this.#o.concatenation === 'sar' ? 0xffff : 0xff);
    return this.#reference;
  }
}

/** The text of an inbound PDU, decoded by the smpp package from short_message or message_payload. */
function messageText(pdu: PDU): string {
  for (const field of [pdu.short_message, pdu.message_payload]) {
    if (field === undefined || field === null) continue;
    const message = typeof field === 'object' && 'message' in field ? (field as { message: unknown }).message : field;
    if (typeof message === 'string' && message) return message;
    if (Buffer.isBuffer(message) && message.length) return message.toString('latin1');
  }
  return '';
}


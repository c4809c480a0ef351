import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerError } from 'smtp-server';

// A real SMTP server on 127.0.0.1 (smtp-server) that parses what it receives (mailparser).
// Tests read the parsed messages, and can make it refuse the next messages with a chosen
// reply code, as a full mailbox (452) or an unknown user (550) would.

export interface SmtpReceiverOptions {
  user?: string;
  password?: string;
  /** Implicit TLS (smtps://) with smtp-server's built-in test certificate. */
  implicitTls?: boolean;
  /** Offer STARTTLS (default true); when false, AUTH is allowed on the clear connection. */
  starttls?: boolean;
}

export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  parsed: ParsedMail;
  raw: string;
  user: string | undefined;
  /** Whether the session was encrypted (implicit TLS or after STARTTLS). */
  secure: boolean;
}

type Stage = 'rcpt' | 'data';

export class SmtpReceiver {
  readonly messages: ReceivedMail[] = [];
  readonly user: string;
  readonly password: string;
  authFailures = 0;
  /** Socket errors of client connections (a killed client resets its connection). */
  readonly connectionErrors: Error[] = [];
  readonly #server: SMTPServer;
  readonly #implicitTls: boolean;
  #port = 0;
  #rejections: { stage: Stage; code: number; message: string }[] = [];
  #waiters: (() => void)[] = [];

  private constructor(options: SmtpReceiverOptions) {
    this.user = options.user ?? 'tocsin';
    this.password = options.password ?? 'smtp-secret';
    this.#implicitTls = options.implicitTls ?? false;
    const starttls = options.starttls ?? true;
    this.#server = new SMTPServer({
      secure: this.#implicitTls,
      hideSTARTTLS: !starttls,
      allowInsecureAuth: !starttls,
      authMethods: ['PLAIN', 'LOGIN'],
      // Silences smtp-server's warning about its built-in certificate: this is a test server.
      logger: false,
      onAuth: (auth, _session, callback) => {
        if (auth.username === this.user && auth.password === this.password) return callback(null, { user: auth.username });
        this.authFailures += 1;
        const err: SMTPServerError = new Error('Invalid username or password');
        err.responseCode = 535;
        callback(err);
      },
      onRcptTo: (_address, _session, callback) => callback(this.#takeRejection('rcpt')),
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('error', () => undefined);
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const rejection = this.#takeRejection('data');
          if (rejection) return callback(rejection);
          const raw = Buffer.concat(chunks).toString('utf8');
          simpleParser(raw).then(
            (parsed) => {
              const from = session.envelope.mailFrom;
              this.messages.push({
                envelope: { from: from ? from.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
                parsed,
                raw,
                user: typeof session.user === 'string' ? session.user : undefined,
                secure: Boolean(session.secure),
              });
              for (const wake of this.#waiters.splice(0)) wake();
              callback();
            },
            (err: Error) => callback(err),
          );
        });
      },
    });
  }

  static async start(options: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
    const receiver = new SmtpReceiver(options);
    await receiver.#listen(0);
    return receiver;
  }

  get port(): number {
    return this.#port;
  }

  /** The smtp_url a channel is configured with; another user or password tests refusals. */
  url(user = this.user, password = this.password): string {
    const scheme = this.#implicitTls ? 'smtps' : 'smtp';
    return `${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.#port}`;
  }

  /** The next `times` messages are refused with this reply at RCPT TO (or after DATA). */
  reject(code: number, message: string, options: { times?: number; stage?: Stage } = {}): void {
    for (let i = 0; i < (options.times ?? 1); i++) this.#rejections.push({ stage: options.stage ?? 'rcpt', code, message });
  }

  async waitForMessages(count: number, timeoutMs = 10_000): Promise<ReceivedMail[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages, got ${this.messages.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #takeRejection(stage: Stage): SMTPServerError | null {
    const index = this.#rejections.findIndex((r) => r.stage === stage);
    if (index < 0) return null;
    const [r] = this.#rejections.splice(index, 1);
    const err: SMTPServerError = new Error(r!.message);
    err.responseCode = r!.code;
    return err;
  }

  async #listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.server.address() as AddressInfo).port;
    // smtp-server re-emits each connection's socket errors (ECONNRESET when the sending server
    // is killed mid-message) on the server; unheard, they would crash the test process.
    this.#server.on('error', (err) => this.connectionErrors.push(err));
  }
}

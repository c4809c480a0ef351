// Types for the parts of the `smpp` npm package (farhadi/node-smpp, plain JavaScript) that
// Tocsin uses: its client and server sessions and its PDU codec.
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer, Socket } from 'node:net';

  /** A decoded PDU: header fields, the command's parameters and TLVs by name. */
  export interface PDU {
    command: string;
    command_id: number;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    isResponse(): boolean;
    response(options?: Record<string, unknown>): PDU;
    toBuffer(): Buffer;
  }

  export interface Session extends EventEmitter {
    socket: Socket;
    send(pdu: PDU, responseCallback?: (resp: PDU) => void, sendCallback?: (pdu: PDU) => void): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
  }

  export interface SmppServer extends NetServer {
    sessions: Session[];
  }

  export interface ConnectOptions {
    host: string;
    port: number;
    tls?: boolean;
    [option: string]: unknown;
  }

  const smpp: {
    connect(options: ConnectOptions, listener?: () => void): Session;
    createServer(options: Record<string, unknown>, listener?: (session: Session) => void): SmppServer;
    PDU: new (command: string, options?: Record<string, unknown>) => PDU;
    errors: Record<string, number>;
    encodings: Record<string, { encode(text: string): Buffer; decode(octets: Buffer): string }>;
  };
  export default smpp;
}

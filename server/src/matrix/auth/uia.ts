import { randomBytes } from 'node:crypto';
import { MatrixError } from '../../errors.ts';

export interface UiaFlow {
  stages: string[];
}

interface Session {
  completed: Set<string>;
  expires: number;
  /** What the first request was about (a path): a session cannot be reused for something else. */
  purpose: string;
}

/** The 401 that carries the UIA state; errcode/error only when a submitted stage failed. */
export class UiaRequiredError extends MatrixError {
  readonly uia: Record<string, unknown>;
  readonly stageFailed: boolean;

  constructor(flows: UiaFlow[], session: string, completed: string[], stageError?: MatrixError) {
    super(401, stageError?.errcode ?? 'M_FORBIDDEN', stageError?.message ?? 'Additional authentication required.');
    this.uia = { flows, params: {}, session, completed };
    this.stageFailed = stageError !== undefined;
  }

  override body(): Record<string, unknown> {
    return this.stageFailed ? { errcode: this.errcode, error: this.message, ...this.uia } : { ...this.uia };
  }
}

export type StageVerifier = (stage: string, auth: Record<string, unknown>) => Promise<boolean>;

const SESSION_TTL_MS = 10 * 60_000;

/**
 * User-interactive authentication. Sessions live in memory (they last minutes); a server
 * restart only makes a client start the dance again.
 */
export class UiaService {
  #sessions = new Map<string, Session>();

  /**
   * Returns when `auth` completes one of the flows; otherwise throws the 401 body that tells
   * the client what to do next.
   */
  async require(auth: unknown, flows: UiaFlow[], purpose: string, verify: StageVerifier): Promise<void> {
    this.#sweep();
    const a = auth && typeof auth === 'object' && !Array.isArray(auth) ? (auth as Record<string, unknown>) : undefined;
    let sessionId = typeof a?.session === 'string' ? a.session : undefined;
    let session = sessionId ? this.#sessions.get(sessionId) : undefined;
    if (sessionId && (!session || session.purpose !== purpose)) {
      throw new MatrixError(400, 'M_UNKNOWN', 'Unknown or expired UIA session.');
    }
    if (!session) {
      sessionId = randomBytes(16).toString('base64url');
      session = { completed: new Set(), expires: Date.now() + SESSION_TTL_MS, purpose };
      this.#sessions.set(sessionId, session);
    }
    let stageError: MatrixError | undefined;
    const stage = typeof a?.type === 'string' ? a.type : undefined;
    if (stage) {
      const allowed = flows.some((f) => f.stages.includes(stage));
      if (!allowed) {
        stageError = new MatrixError(400, 'M_UNRECOGNIZED', `Stage ${stage} is not offered.`);
      } else if (await verify(stage, a!)) {
        session.completed.add(stage);
      } else {
        stageError = new MatrixError(401, 'M_FORBIDDEN', 'Invalid password.');
      }
    }
    if (flows.some((f) => f.stages.every((s) => session!.completed.has(s)))) {
      this.#sessions.delete(sessionId!);
      return;
    }
    throw new UiaRequiredError(flows, sessionId!, [...session.completed], stageError);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.#sessions) if (s.expires < now) this.#sessions.delete(id);
  }
}

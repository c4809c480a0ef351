import { useEffect, useRef, useState } from 'preact/hooks';
import { LOGBOOK_KEY, MAX_TEXT, TAG_PATTERN, logbookContent, normaliseTag, type LogbookEntry } from '../../../server/src/crisis/logbook/logbook-entry.ts';
import { ApiError, V1, api } from '../api.ts';
import { isLowBandwidth } from '../bandwidth.ts';
import { formatDateTime, lang, t } from '../i18n.ts';
import type { Session } from '../session.ts';
import { downloadExport } from './download.ts';
import { drop, enqueue, flush, queued, type QueuedEntry } from './outbox.ts';
import { w } from './words.ts';
import './logbook.css';

type Entry = LogbookEntry;
interface Book {
  room_id: string;
  room_name: string | null;
  entries: Entry[];
  total: number;
  limited?: boolean;
}
interface Filter {
  author?: string;
  tag?: string;
  q?: string;
  /** datetime-local values, in the user's time zone. */
  from?: string;
  to?: string;
}

/** The browser's zone, for the exports' times (the server's default is UTC). */
const timeZone: string | undefined = Intl.DateTimeFormat().resolvedOptions().timeZone;

function filterQuery(f: Filter): URLSearchParams {
  const q = new URLSearchParams();
  if (f.author?.trim()) q.set('author', f.author.trim());
  if (f.tag?.trim()) q.set('tag', f.tag.trim());
  if (f.q?.trim()) q.set('q', f.q.trim());
  if (f.from) q.set('from', String(new Date(f.from).getTime()));
  // A minute typed as the end includes that whole minute.
  if (f.to) q.set('to', String(new Date(f.to).getTime() + 59_999));
  return q;
}

function newTxnId(): string {
  return `lb${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/** The log book (main courante) of a crisis room: list, new entry, filters, exports. */
export function Logbook(props: { roomId: string; session: Session }) {
  const [book, setBook] = useState<Book | null>(null);
  const [error, setError] = useState('');
  const [filter, setFilter] = useState<Filter>({});
  const [draft, setDraft] = useState<Filter>({});
  const [text, setText] = useState('');
  const [tag, setTag] = useState('');
  const [occurred, setOccurred] = useState('');
  const [pending, setPending] = useState<QueuedEntry[]>(() => queued(props.roomId));
  const [tick, setTick] = useState(0);
  const [exporting, setExporting] = useState('');
  const authors = useRef(new Map<string, string>());
  const tags = useRef(new Set<string>(w.tags));

  const refresh = () => setTick((n) => n + 1);

  useEffect(() => {
    const abort = new AbortController();
    const q = filterQuery(filter);
    q.set('limit', isLowBandwidth() ? '100' : '500');
    api<Book>('GET', `${V1}/rooms/${encodeURIComponent(props.roomId)}/logbook?${q}`, undefined, { signal: abort.signal }).then(
      (b) => {
        for (const e of b.entries) {
          authors.current.set(e.author, e.author_name ?? e.author);
          if (e.tag) tags.current.add(e.tag);
        }
        setBook(b);
        setError('');
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        setError(err instanceof ApiError ? err.message : t.networkError);
      },
    );
    return () => abort.abort();
  }, [props.roomId, filter, tick]);

  useEffect(() => {
    const send = () =>
      void flush().then(() => {
        setPending(queued(props.roomId));
        refresh();
      });
    send();
    addEventListener('online', send);
    // Others write in the log book too: a look every 30 s while the page is shown, not in
    // low-bandwidth mode (there the Refresh button does it).
    const timer = setInterval(() => {
      if (!isLowBandwidth() && document.visibilityState === 'visible') refresh();
    }, 30_000);
    return () => {
      removeEventListener('online', send);
      clearInterval(timer);
    };
  }, [props.roomId]);

  const add = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    const cleanTag = normaliseTag(tag);
    if (cleanTag !== undefined && !TAG_PATTERN.test(cleanTag)) {
      setError(w.badTag);
      return;
    }
    setError('');
    const at = occurred ? new Date(occurred).getTime() : undefined;
    const content = logbookContent({ text: text.trim(), tag, occurred_at: at }, at === undefined ? undefined : formatDateTime(at));
    enqueue({ roomId: props.roomId, txnId: newTxnId(), content, queuedAt: Date.now() });
    setText('');
    setOccurred('');
    setPending(queued(props.roomId));
    await flush();
    setPending(queued(props.roomId));
    refresh();
  };

  const exportAs = async (format: 'csv' | 'html') => {
    setExporting(format);
    try {
      const q = filterQuery(filter);
      if (timeZone) q.set('tz', timeZone);
      q.set('lang', lang);
      await downloadExport(props.roomId, q, format);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : t.networkError);
    } finally {
      setExporting('');
    }
  };

  const filtered = Object.values(filter).some((v) => v);
  const entries = book ? [...book.entries].reverse() : [];
  return (
    <section class="logbook" aria-labelledby="logbook-title">
      <a href={`#/rooms/${encodeURIComponent(props.roomId)}`} class="back">
        ← {w.backToRoom}
      </a>
      <h1 id="logbook-title">
        {w.title}
        {book ? ` · ${book.room_name ?? book.room_id}` : ''}
      </h1>
      {error && <p class="error" role="alert">{error}</p>}

      <form class="panel lb-add" onSubmit={(e) => void add(e)} aria-labelledby="lb-add-title">
        <h2 id="lb-add-title">{w.add}</h2>
        <label for="lb-text">{w.text}</label>
        <textarea id="lb-text" required maxLength={MAX_TEXT} rows={2} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <div class="lb-row">
          <div>
            <label for="lb-tag">{w.tag}</label>
            <input id="lb-tag" list="lb-tags" maxLength={32} value={tag} onInput={(e) => setTag(e.currentTarget.value)} autocapitalize="none" />
          </div>
          <div>
            <label for="lb-occurred">{w.occurredAt}</label>
            <input id="lb-occurred" type="datetime-local" value={occurred} onInput={(e) => setOccurred(e.currentTarget.value)} />
          </div>
        </div>
        <datalist id="lb-tags">
          {[...tags.current].sort().map((x) => (
            <option value={x} />
          ))}
        </datalist>
        <button type="submit" class="primary">
          {w.save}
        </button>
      </form>

      {pending.length > 0 && (
        <ul class="lb-entries pending" aria-label={w.queued}>
          {pending.map((p) => {
            const s = p.content[LOGBOOK_KEY] as { text: string; tag?: string };
            return (
              <li data-txn={p.txnId}>
                <span class="meta">{p.error ? <span class="error">{p.error}</span> : `⏳ ${w.queued}`}</span>
                {s.tag && <span class="chip">{s.tag}</span>} <span class="lb-text">{s.text}</span>
                {p.error && (
                  <button
                    type="button"
                    class="link"
                    onClick={() => {
                      drop(p.txnId);
                      setPending(queued(props.roomId));
                      // The button goes with its entry: keyboard focus goes back to the form.
                      document.getElementById('lb-text')?.focus();
                    }}
                  >
                    {w.discard}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}

      <details class="panel lb-filters" open={filtered}>
        <summary>
          {w.filters}
          {filtered ? ' ●' : ''}
        </summary>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setFilter({ ...draft });
          }}
        >
          <div class="lb-row">
            <div>
              <label for="lb-f-author">{w.author}</label>
              <input id="lb-f-author" list="lb-authors" value={draft.author ?? ''} autocapitalize="none" spellcheck={false} onInput={(e) => setDraft({ ...draft, author: e.currentTarget.value })} />
              <datalist id="lb-authors">
                {[...authors.current].map(([id, name]) => (
                  <option value={id}>{name}</option>
                ))}
              </datalist>
            </div>
            <div>
              <label for="lb-f-tag">{w.tag}</label>
              <input id="lb-f-tag" list="lb-tags" value={draft.tag ?? ''} autocapitalize="none" onInput={(e) => setDraft({ ...draft, tag: e.currentTarget.value })} />
            </div>
            <div>
              <label for="lb-f-q">{w.search}</label>
              <input id="lb-f-q" type="search" value={draft.q ?? ''} onInput={(e) => setDraft({ ...draft, q: e.currentTarget.value })} />
            </div>
            <div>
              <label for="lb-f-from">{w.from}</label>
              <input id="lb-f-from" type="datetime-local" value={draft.from ?? ''} onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })} />
            </div>
            <div>
              <label for="lb-f-to">{w.to}</label>
              <input id="lb-f-to" type="datetime-local" value={draft.to ?? ''} onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} />
            </div>
          </div>
          <div class="actions">
            <button type="submit">{w.apply}</button>
            <button
              type="button"
              class="link"
              onClick={() => {
                setDraft({});
                setFilter({});
              }}
            >
              {w.reset}
            </button>
          </div>
        </form>
      </details>

      <div class="actions lb-export" role="group" aria-label={w.export}>
        <span class="meta">{w.export}{t.colon}</span>
        <button type="button" disabled={exporting !== ''} onClick={() => void exportAs('csv')}>
          {w.csv}
        </button>
        <button type="button" disabled={exporting !== ''} onClick={() => void exportAs('html')}>
          {w.html}
        </button>
        <button type="button" class="link" onClick={refresh}>
          {w.refresh}
        </button>
      </div>

      {!book ? (
        !error && <p role="status">{t.loading}</p>
      ) : (
        <>
          <p class="meta" aria-live="polite" data-testid="lb-count">
            {w.count(book.entries.length, book.total)}
          </p>
          {entries.length === 0 ? (
            <p class="empty">{w.empty}</p>
          ) : (
            <ol class="lb-entries" reversed>
              {entries.map((e) => (
                <li data-event={e.event_id}>
                  <div class="lb-head">
                    <time dateTime={new Date(e.at).toISOString()}>{formatDateTime(e.at)}</time>
                    <span class="who" title={e.author}>
                      {e.author_name ?? e.author}
                    </span>
                    {e.tag && <span class="chip">{e.tag}</span>}
                  </div>
                  <p class="lb-text">{e.text}</p>
                  {e.occurred_at !== null && (
                    <p class="meta">
                      {w.recorded} {formatDateTime(e.recorded_at)}
                    </p>
                  )}
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}

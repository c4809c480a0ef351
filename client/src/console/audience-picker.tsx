import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, V1, api } from '../api.ts';
import { w } from './words.ts';
import './picker.css';

export interface AudienceItem {
  id: string;
  kind: 'user' | 'group' | 'room';
  name: string | null;
  members?: number;
}

/** What may be typed by hand: @user:server, group:id or !room:server. */
export const AUDIENCE = /^(@[^:\s]+:\S+|group:\S+|![^:\s]+:\S+)$/;

function kindOf(id: string): AudienceItem['kind'] {
  return id.startsWith('@') ? 'user' : id.startsWith('group:') ? 'group' : 'room';
}

function label(item: AudienceItem): string {
  return item.name ? `${item.name} (${item.id})` : item.id;
}

function Kind(props: { kind: AudienceItem['kind'] }) {
  return <span class={`kind kind-${props.kind}`}>{w.kind[props.kind]}</span>;
}

/**
 * The audience picker: a combobox that searches users, groups and the sender's rooms on the
 * server as one types (a few letters, debounced), chosen items as removable chips, and how many
 * people the audience reaches (the server resolves it the way sending does).
 */
export function AudiencePicker(props: { value: AudienceItem[]; onChange: (items: AudienceItem[]) => void; onError: (message: string) => void }) {
  const [entry, setEntry] = useState('');
  const [results, setResults] = useState<AudienceItem[]>([]);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [count, setCount] = useState<number | null>(null);
  const seq = useRef(0);

  // Search as one types, a quarter second after the last key.
  useEffect(() => {
    const q = entry.trim();
    if (q === '' || AUDIENCE.test(q)) {
      setResults([]);
      return;
    }
    const n = ++seq.current;
    const timer = setTimeout(() => {
      api<{ results: AudienceItem[] }>('GET', `${V1}/audience/search?q=${encodeURIComponent(q)}&limit=8`).then(
        (r) => {
          if (n !== seq.current) return;
          setResults(r.results.filter((i) => !props.value.some((v) => v.id === i.id)));
          setActive(-1);
          setOpen(true);
        },
        () => undefined,
      );
    }, 250);
    return () => clearTimeout(timer);
  }, [entry]);

  // The resolved count, for the audience as it stands.
  const ids = props.value.map((i) => i.id).join('\n');
  useEffect(() => {
    setCount(null);
    if (props.value.length === 0) return;
    const timer = setTimeout(() => {
      api<{ recipients: number }>('POST', `${V1}/audience/count`, { audience: props.value.map((i) => i.id) }).then(
        (r) => setCount(r.recipients),
        (err: unknown) => props.onError(err instanceof ApiError ? err.message : ''),
      );
    }, 300);
    return () => clearTimeout(timer);
  }, [ids]);

  const choose = (item: AudienceItem) => {
    if (!props.value.some((v) => v.id === item.id)) props.onChange([...props.value, item]);
    setEntry('');
    setResults([]);
    setOpen(false);
    props.onError('');
  };

  /** Typed identifiers, for whoever knows them (several at once, separated by spaces or commas). */
  const addTyped = () => {
    const items = entry.split(/[\s,;]+/).filter(Boolean);
    if (items.length === 0) return;
    const bad = items.filter((i) => !AUDIENCE.test(i));
    if (bad.length > 0) {
      if (results.length > 0) choose(results[Math.max(active, 0)]!);
      else props.onError(`${w.audienceHint} (${bad.join(', ')})`);
      return;
    }
    const fresh = items.filter((i) => !props.value.some((v) => v.id === i)).map((id): AudienceItem => ({ id, kind: kindOf(id), name: null }));
    props.onChange([...props.value, ...fresh]);
    setEntry('');
    setOpen(false);
    props.onError('');
  };

  const showList = open && results.length > 0;
  return (
    <div class="picker">
      <label for="audience-entry">{w.audience}</label>
      <ul class="chips" aria-label={w.audience}>
        {props.value.map((a) => (
          <li class={`chip kind-${a.kind}`} data-id={a.id} title={a.id}>
            <Kind kind={a.kind} /> {a.name ?? a.id}
            {a.members !== undefined ? ` · ${w.members(a.members)}` : ''}{' '}
            <button type="button" class="link" aria-label={`${w.remove} ${label(a)}`} onClick={() => props.onChange(props.value.filter((x) => x.id !== a.id))}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <div class="row">
        <input
          id="audience-entry"
          role="combobox"
          aria-autocomplete="list"
          aria-expanded={showList}
          aria-controls="audience-options"
          aria-activedescendant={showList && active >= 0 ? `audience-option-${active}` : undefined}
          aria-describedby="audience-hint"
          value={entry}
          placeholder={w.audienceSearch}
          autocomplete="off"
          autocapitalize="none"
          spellcheck={false}
          onInput={(e) => setEntry(e.currentTarget.value)}
          onBlur={() => setTimeout(() => setOpen(false), 200)}
          onFocus={() => setOpen(true)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown' && results.length > 0) {
              e.preventDefault();
              setOpen(true);
              setActive((active + 1) % results.length);
            } else if (e.key === 'ArrowUp' && results.length > 0) {
              e.preventDefault();
              setActive(active <= 0 ? results.length - 1 : active - 1);
            } else if (e.key === 'Escape') {
              setOpen(false);
            } else if (e.key === 'Enter') {
              e.preventDefault();
              if (showList && active >= 0) choose(results[active]!);
              else addTyped();
            }
          }}
        />
        <button type="button" onClick={addTyped}>
          {w.add}
        </button>
      </div>
      {showList && (
        <ul id="audience-options" class="options" role="listbox" aria-label={w.audience}>
          {results.map((r, i) => (
            <li
              id={`audience-option-${i}`}
              role="option"
              aria-selected={i === active}
              class={i === active ? 'active' : undefined}
              data-id={r.id}
              onMouseDown={(e) => {
                e.preventDefault();
                choose(r);
              }}
            >
              <Kind kind={r.kind} /> <strong>{r.name ?? r.id}</strong> <span class="meta">{r.name ? r.id : ''}</span>
              {r.members !== undefined && <span class="meta"> · {w.members(r.members)}</span>}
            </li>
          ))}
        </ul>
      )}
      <p id="audience-hint" class="hint">
        {w.audienceHint}
      </p>
      {props.value.length > 0 && (
        <p class="hint" aria-live="polite" data-testid="audience-count">
          {count === null ? '…' : w.reaches(count)}
        </p>
      )}
    </div>
  );
}

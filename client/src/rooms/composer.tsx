import { useRef, useState } from 'preact/hooks';
import { imageSize, sendMessage, setTyping, upload } from './engine.ts';
import { mentionedUsers, type Room } from './room-state.ts';
import { w } from './words.ts';

export function Composer(props: { room: Room; me: string }) {
  const [text, setText] = useState('');
  const [status, setStatus] = useState('');
  const file = useRef<HTMLInputElement>(null);
  const roomId = props.room.id;

  const send = (ev: Event) => {
    ev.preventDefault();
    const body = text.trim();
    if (!body) return;
    const users = mentionedUsers(body, props.room, props.me);
    setText('');
    setTyping(roomId, false);
    // m.mentions always present (empty when nobody is named), so clients never guess from the text.
    void sendMessage(roomId, { msgtype: 'm.text', body, 'm.mentions': users.length > 0 ? { user_ids: users } : {} });
  };

  const attach = async () => {
    const f = file.current?.files?.[0];
    if (!f) return;
    setStatus(w.uploading);
    try {
      const url = await upload(f, f.name);
      const size = await imageSize(f);
      const info: Record<string, unknown> = { mimetype: f.type, size: f.size, ...(size ?? {}) };
      await sendMessage(roomId, { msgtype: 'm.image', body: f.name, url, info, 'm.mentions': {} });
      setStatus('');
    } catch {
      setStatus(w.uploadFailed);
    } finally {
      if (file.current) file.current.value = '';
    }
  };

  return (
    <form class="composer" onSubmit={send}>
      {status && (
        <p class={status === w.uploading ? 'meta' : 'error'} role="status">
          {status}
        </p>
      )}
      <div class="composer-row">
        <label class="attach" title={w.attach}>
          {/* Drawn, not an emoji: not every device has an emoji font. */}
          <svg aria-hidden="true" width="22" height="22" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
            <path d="M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l8-8" />
          </svg>
          <span class="sr-only">{w.attach}</span>
          <input ref={file} type="file" accept="image/*" class="sr-only" onChange={() => void attach()} />
        </label>
        <label for="composer-text" class="sr-only">
          {w.message}
        </label>
        <textarea
          id="composer-text"
          rows={1}
          value={text}
          placeholder={w.message}
          onInput={(ev) => {
            const v = ev.currentTarget.value;
            setText(v);
            setTyping(roomId, v.trim().length > 0);
          }}
          onKeyDown={(ev) => {
            // Enter sends, Shift+Enter starts a new line (as in other chat apps).
            if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) send(ev);
          }}
          onBlur={() => setTyping(roomId, false)}
        />
        <button type="submit" class="primary">
          {w.send}
        </button>
      </div>
    </form>
  );
}

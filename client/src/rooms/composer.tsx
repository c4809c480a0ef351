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
          <span aria-hidden="true">📎</span>
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

import { useEffect, useRef, useState } from 'preact/hooks';
import type { Me } from '../../shared/people.js';
import { settingsItem, type Settings } from '../lib/settings.js';
import { PROBLEM_TEXTS, TEXT } from '../lib/texts.js';
import { checkSettings } from './check-settings.js';
import { rememberIdentity, requestHostAccess, testConnection, type ConnectionTest } from './connection.js';
import { ApiKeyField, NotificationsField, RelayUrlField } from './fields.js';

type Tone = 'ok' | 'info' | 'warning' | 'error';
interface Message {
  tone: Tone;
  text: string;
}
type Field = 'relayUrl' | 'apiKey';

const T = TEXT.options;

function testMessages(test: ConnectionTest): Message[] {
  if (!test.ok) {
    const messages: Message[] = [{ tone: 'error', text: PROBLEM_TEXTS[test.problem].message }];
    if (test.problem === 'relay_error' && test.detail) messages.push({ tone: 'info', text: test.detail });
    return messages;
  }
  const { counts, concur } = test.summary;
  const messages: Message[] = [
    { tone: 'ok', text: T.testOk(TEXT.concurStates[concur.state]) },
    { tone: 'info', text: T.testCounts(counts.pending, counts.failed, counts.connected) },
  ];
  if (test.concurProblem) messages.push({ tone: 'warning', text: PROBLEM_TEXTS[test.concurProblem].message });
  return messages;
}

/**
 * Keeps whose key it is with the stored settings when the relay said (or said it has no `/me`);
 * a test that reached no answer about the key changes nothing. Failing to keep it costs only the
 * popup's head start on the role: it asks the relay itself.
 */
function remember(settings: Settings, test: ConnectionTest): Promise<void> {
  if (!test.ok && test.me === null) return Promise.resolve();
  return rememberIdentity(settings, test.me).catch(() => undefined);
}

/**
 * The options page: relay address, API key (hidden unless asked), notifications, Test connection
 * and Save. Host access to the relay is asked for when saving, not before; saving works without it.
 */
export function OptionsPage() {
  const [relayUrl, setRelayUrl] = useState('');
  const [apiKey, setApiKey] = useState('');
  const [notifications, setNotifications] = useState(true);
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [busy, setBusy] = useState<'saving' | 'testing' | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  /** Who the key in the fields belongs to, as the relay said (kept with the settings); null: not known. */
  const [identity, setIdentity] = useState<Me | null>(null);
  const urlInput = useRef<HTMLInputElement>(null);
  const keyInput = useRef<HTMLInputElement>(null);
  /** Counts Save and Test clicks: a late answer to an earlier Save's host-access prompt then shows nothing. */
  const action = useRef(0);

  useEffect(() => {
    settingsItem.getValue().then(
      (saved) => {
        setRelayUrl(saved.relayUrl);
        setApiKey(saved.apiKey);
        setNotifications(saved.notifications);
        setIdentity(saved.me ?? null);
      },
      () => setMessages([{ tone: 'error', text: T.loadFailed }]),
    );
  }, []);

  /** Validates; on failure marks the fields, says so and focuses the first wrong one. */
  const validate = (): Settings | null => {
    action.current += 1;
    const check = checkSettings({ relayUrl, apiKey, notifications });
    if (check.ok) {
      setErrors({});
      return check.settings;
    }
    setErrors(check.errors);
    setMessages([{ tone: 'error', text: T.fixFields }]);
    (check.errors.relayUrl ? urlInput : keyInput).current?.focus();
    return null;
  };

  /** What the relay said about the key belonged to the address and key as they were: an edit forgets it. */
  const edited = (set: (value: string) => void) => (value: string) => {
    set(value);
    setIdentity(null);
  };

  const onSubmit = (event: Event): void => {
    event.preventDefault();
    if (busy) return;
    const settings = validate();
    if (!settings) return;
    // Before any await: the browser only prompts during the user's gesture.
    const access = requestHostAccess(settings.relayUrl);
    const seq = action.current;
    setBusy('saving');
    setMessages([]);
    // Saving does not wait for the prompt's answer: the user may leave it open (and a headless
    // browser never answers it), and the relay's CORS serves the extension without host access.
    const saved: Message = { tone: 'ok', text: T.saved };
    let accessNote: Message[] = [];
    let testNote: Message[] | null = null;
    const show = (): void => {
      if (seq === action.current && testNote !== null) setMessages([saved, ...accessNote, ...testNote]);
    };
    void access.then((granted) => {
      if (granted !== 'granted') accessNote = [{ tone: 'info', text: T.permissionDenied }];
      show();
    });
    void (async () => {
      try {
        await settingsItem.setValue(settings);
        setRelayUrl(settings.relayUrl);
        setApiKey(settings.apiKey);
        testNote = [];
        show();
        // Say at once whether what was saved works, and whose key it is.
        const test = await testConnection(settings);
        testNote = testMessages(test);
        show();
        if (seq === action.current) setIdentity(test.me);
        await remember(settings, test);
      } catch {
        if (seq === action.current) setMessages([{ tone: 'error', text: T.loadFailed }]);
      } finally {
        setBusy(null);
      }
    })();
  };

  const onTest = (): void => {
    if (busy) return;
    const settings = validate();
    if (!settings) return;
    setBusy('testing');
    setMessages([]);
    const seq = action.current;
    void testConnection(settings)
      .then((test) => {
        setMessages(testMessages(test));
        if (seq === action.current) setIdentity(test.me);
        return remember(settings, test);
      })
      .catch(() => setMessages([{ tone: 'error', text: T.testFailed }]))
      .finally(() => setBusy(null));
  };

  return (
    <main>
      <h1>{T.title}</h1>
      <p class="intro">{T.intro}</p>
      <form onSubmit={onSubmit} noValidate aria-busy={busy !== null}>
        <RelayUrlField value={relayUrl} error={errors.relayUrl} inputRef={urlInput} onInput={edited(setRelayUrl)} />
        <ApiKeyField
          value={apiKey}
          error={errors.apiKey}
          inputRef={keyInput}
          onInput={edited(setApiKey)}
          identity={identity === null ? null : T.identity(identity.name, identity.role)}
        />
        <NotificationsField checked={notifications} onChange={setNotifications} />

        <div class="actions">
          <button type="button" onClick={onTest} disabled={busy !== null}>
            {busy === 'testing' ? T.testing : T.test}
          </button>
          <button type="submit" class="primary" disabled={busy !== null}>
            {busy === 'saving' ? T.saving : T.save}
          </button>
        </div>
      </form>

      <ul class="messages" role="status" aria-live="polite" aria-atomic="true">
        {messages.map((message, index) => (
          <li key={index} class={message.tone}>
            {message.text}
          </li>
        ))}
      </ul>
    </main>
  );
}

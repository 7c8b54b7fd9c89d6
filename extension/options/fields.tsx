import type { InputHTMLAttributes } from 'preact';
import { useState } from 'preact/hooks';
import { TEXT } from '../lib/texts.js';

/** The fields of the options page (options-page.tsx): each labelled, with its hint and its error. */

const T = TEXT.options;

interface TextFieldProps {
  value: string;
  /** What is wrong with the value, shown under the field and named by it; undefined when nothing is. */
  error: string | undefined;
  inputRef: { current: HTMLInputElement | null };
  onInput(value: string): void;
}

/** The hint and, when there is one, the error: what the input's aria-describedby names. */
function Notes({ field, hint, error }: { field: string; hint: string; error: string | undefined }) {
  return (
    <>
      <p id={`${field}-hint`} class="hint">
        {hint}
      </p>
      {error && (
        <p id={`${field}-error`} class="error">
          {error}
        </p>
      )}
    </>
  );
}

/** What both text inputs carry: their value and handler, and the ARIA that ties them to their Notes. */
function textInput(field: 'relayUrl' | 'apiKey', { value, error, onInput }: TextFieldProps): InputHTMLAttributes {
  return {
    id: field,
    name: field,
    spellcheck: false,
    autoCapitalize: 'off',
    required: true,
    value,
    onInput: (e) => onInput(e.currentTarget.value),
    'aria-invalid': error ? 'true' : 'false',
    'aria-describedby': error ? `${field}-hint ${field}-error` : `${field}-hint`,
  };
}

export function RelayUrlField(props: TextFieldProps) {
  const { error, inputRef } = props;
  return (
    <div class="field">
      <label for="relayUrl">{T.relayUrl}</label>
      <input ref={inputRef} type="text" inputMode="url" autocomplete="url" {...textInput('relayUrl', props)} />
      <Notes field="relayUrl" hint={T.relayUrlHint} error={error} />
    </div>
  );
}

/** The API key, hidden unless asked; `identity` says whose it is, once the relay has said. */
export function ApiKeyField(props: TextFieldProps & { identity: string | null }) {
  const { error, inputRef, identity } = props;
  const input = textInput('apiKey', props);
  const [showKey, setShowKey] = useState(false);
  return (
    <div class="field">
      <label for="apiKey">{T.apiKey}</label>
      <div class="key-row">
        <input
          ref={inputRef}
          // Preact's input types split text and password into separate unions; one field toggles both.
          type={(showKey ? 'text' : 'password') as 'text'}
          autocomplete="off"
          {...input}
          aria-describedby={identity === null ? input['aria-describedby'] : `${String(input['aria-describedby'])} apiKey-identity`}
        />
        <button
          type="button"
          aria-controls="apiKey"
          aria-pressed={showKey}
          aria-label={showKey ? T.hideKeyLabel : T.showKeyLabel}
          onClick={() => setShowKey(!showKey)}
        >
          {showKey ? T.hideKey : T.showKey}
        </button>
      </div>
      <Notes field="apiKey" hint={T.apiKeyHint} error={error} />
      {identity !== null && (
        <p id="apiKey-identity" class="identity">
          {identity}
        </p>
      )}
    </div>
  );
}

export function NotificationsField({ checked, onChange }: { checked: boolean; onChange(checked: boolean): void }) {
  return (
    <div class="field">
      <div class="check">
        <input
          id="notifications"
          name="notifications"
          type="checkbox"
          checked={checked}
          onChange={(e) => onChange(e.currentTarget.checked)}
          aria-describedby="notifications-hint"
        />
        <label for="notifications">{T.notifications}</label>
      </div>
      <p id="notifications-hint" class="hint">
        {T.notificationsHint}
      </p>
    </div>
  );
}

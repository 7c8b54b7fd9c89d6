import type { ComponentChildren } from 'preact';
import type { Summary } from '../../../shared/models.js';
import { concurProblem } from '../../lib/problems.js';
import type { ProblemInfo } from '../state.js';
import { problemMessage } from '../state.js';
import { POPUP_TEXT, PROBLEM_TEXTS, TEXT } from '../../lib/texts.js';

export function Loading() {
  return (
    <div class="state state-loading" role="status" aria-busy="true">
      <span class="spinner" aria-hidden="true" />
      {TEXT.loading}
    </div>
  );
}

export function Unconfigured({ onOpenOptions }: { onOpenOptions(): void }) {
  return (
    <div class="state state-unconfigured">
      <h2>{POPUP_TEXT.unconfiguredTitle}</h2>
      <p>{PROBLEM_TEXTS.not_configured.message}</p>
      <button type="button" class="btn btn-primary" data-action="options" onClick={onOpenOptions}>
        {TEXT.openOptions}
      </button>
    </div>
  );
}

/** Problems the user fixes in the options, not by trying again. */
const FIX_IN_OPTIONS = new Set(['key_refused', 'forbidden', 'unreachable']);

function ProblemActions({ problem, onRetry, onOpenOptions }: { problem: ProblemInfo; onRetry(): void; onOpenOptions(): void }) {
  return (
    <div class="state-actions">
      <button type="button" class="btn btn-primary" data-action="retry" onClick={onRetry}>
        {TEXT.retry}
      </button>
      {FIX_IN_OPTIONS.has(problem.problem) && (
        <button type="button" class="btn" data-action="options" onClick={onOpenOptions}>
          {TEXT.openOptions}
        </button>
      )}
    </div>
  );
}

/** Nothing to show: the whole popup is this problem. */
export function ErrorState(props: { problem: ProblemInfo; onRetry(): void; onOpenOptions(): void }) {
  return (
    <div class="state state-error" data-problem={props.problem.problem} role="alert">
      <h2>{POPUP_TEXT.errorTitle}</h2>
      <p>{problemMessage(props.problem)}</p>
      <ProblemActions {...props} />
    </div>
  );
}

/** A problem above a list that is still shown (a refresh failed, or Concur is unwell). */
export function Banner({ kind, problem, children }: { kind: 'error' | 'warning'; problem: string; children: ComponentChildren }) {
  return (
    <div class={`banner banner-${kind}`} data-problem={problem} role="status">
      {children}
    </div>
  );
}

export function RefreshBanner(props: { problem: ProblemInfo; onRetry(): void; onOpenOptions(): void }) {
  return (
    <Banner kind="error" problem={props.problem.problem}>
      <p>{problemMessage(props.problem)}</p>
      <ProblemActions {...props} />
    </Banner>
  );
}

/** Concur in trouble (the relay's summary says so): a banner above the list, with Concur's own error. */
export function ConcurBanner({ concur }: { concur: Summary['concur'] | undefined }) {
  const problem = concurProblem(concur?.state);
  if (!problem) return null;
  return (
    <Banner kind={problem === 'concur_unauthorized' ? 'error' : 'warning'} problem={problem}>
      <p>
        {PROBLEM_TEXTS[problem].message}
        {concur?.lastError ? <span class="detail"> ({concur.lastError})</span> : null}
      </p>
    </Banner>
  );
}

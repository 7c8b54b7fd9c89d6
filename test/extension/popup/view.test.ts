import { describe, expect, it } from 'vitest';
import { MAX_RETRIES } from '../../../shared/status.js';
import {
  ageText,
  connectBlocked,
  displayGroup,
  emailText,
  mayReply,
  matchText,
  replyByText,
  parseTarget,
  replyChoices,
  replyInFlight,
  replyStateText,
  retryCountText,
  tokenInfo,
  travellerName,
} from '../../../extension/popup/view.js';
import { POPUP_TEXT } from '../../../extension/lib/texts.js';
import { MIN, NOW, ago, inFuture, reply, request, summaryOf } from '../helpers/popup-fixtures.js';

describe('popup view rules', () => {
  it('names first middle last, leaving out an empty or null middle name', () => {
    expect(travellerName({ firstName: 'Zoë', middleName: 'Q', lastName: 'Ång' })).toBe('Zoë Q Ång');
    expect(travellerName({ firstName: 'Zoë', middleName: '', lastName: 'Ång' })).toBe('Zoë Ång');
    expect(travellerName({ firstName: 'Zoë', middleName: null, lastName: 'Ång' })).toBe('Zoë Ång');
    expect(travellerName({ firstName: null, middleName: null, lastName: null })).toBe('(no name given)');
  });

  it('says how old a request is, relative to now', () => {
    expect(ageText(ago(20_000), NOW)).toBe('just now');
    expect(ageText(ago(3 * MIN), NOW)).toBe('3 min ago');
    expect(ageText(ago(5 * 60 * MIN), NOW)).toBe('5 h ago');
    expect(ageText(ago(72 * 60 * MIN), NOW)).toBe('3 days ago');
  });

  it('counts the token down, warns under 5 minutes and says when it expired', () => {
    expect(tokenInfo({ requestTokenExpiresAt: inFuture(12 * MIN) }, NOW)).toMatchObject({ state: 'ok', text: 'token: 12 min left' });
    expect(tokenInfo({ requestTokenExpiresAt: inFuture(4 * MIN + 30_000) }, NOW)).toMatchObject({ state: 'warning', text: 'token: 4 min left' });
    expect(tokenInfo({ requestTokenExpiresAt: inFuture(20_000) }, NOW)).toMatchObject({ state: 'warning', text: 'token: under a minute left' });
    expect(tokenInfo({ requestTokenExpiresAt: ago(1) }, NOW)).toMatchObject({ state: 'expired', text: 'token expired' });
    expect(tokenInfo({ requestTokenExpiresAt: null }, NOW)).toEqual({ state: 'none' });
    // API 3.2's tokens are taken to live a day: hours, not a thousand minutes.
    expect(tokenInfo({ requestTokenExpiresAt: inFuture(119 * MIN + 30_000) }, NOW)).toMatchObject({ state: 'ok', text: 'token: 119 min left' });
    expect(tokenInfo({ requestTokenExpiresAt: inFuture(23 * 60 * MIN + 59 * MIN) }, NOW)).toMatchObject({ state: 'ok', text: 'token: 23 h left' });
  });

  it('offers Connected first, and the useful replies first once the token expired', () => {
    const fresh = replyChoices(request(), NOW)!;
    expect(fresh.primary).toBe('CRSUC');
    expect(fresh.inline.map((c) => c.code)).toEqual(['CRSUC']);
    expect(fresh.more.map((c) => c.code)).toEqual(['CREU1', 'CREU2', 'CREU3', 'CRPA1', 'CRPA2', 'CRRET']);

    const expired = replyChoices(request({ requestTokenExpiresAt: ago(MIN) }), NOW)!;
    expect(expired.expired).toBe(true);
    expect(expired.primary).toBe('CRRET');
    expect([...expired.inline, ...expired.more].map((c) => c.code)).toEqual(['CRRET', 'CRPA1', 'CRSUC', 'CREU1', 'CREU2', 'CREU3', 'CRPA2']);
  });

  it('disables the new-token reply with a reason once Concur’s retries are used up', () => {
    const choices = replyChoices(request({ requestTokenExpiresAt: ago(MIN), retries: MAX_RETRIES }), NOW)!;
    const crret = choices.inline[0]!;
    expect(crret.code).toBe('CRRET');
    expect(crret.disabledReason).toContain(String(MAX_RETRIES));
    expect(choices.primary).toBe('CRPA1');
  });

  it('takes the limit from the request, as the relay’s API version sets it (3.2: 48)', () => {
    const fresh = { requestTokenExpiresAt: ago(MIN), retryLimit: 48 };
    expect(replyChoices(request({ ...fresh, retries: MAX_RETRIES }), NOW)!.inline[0]!.disabledReason).toBeNull();
    const spent = replyChoices(request({ ...fresh, retries: 48 }), NOW)!.inline[0]!;
    expect(spent.code).toBe('CRRET');
    expect(spent.disabledReason).toContain('48');
  });

  it('API 3.2 limits the CREU codes too (4): spent, they are disabled with a reason; 3.0 has no such limit', () => {
    const v32 = { retryLimit: 48, userErrorLimit: 4 };
    const codes = (r: Parameters<typeof replyChoices>[0]) => replyChoices(r, NOW)!.more.filter((c) => c.code.startsWith('CREU'));
    expect(codes(request({ ...v32, userErrors: 3 })).every((c) => c.disabledReason === null)).toBe(true);
    const spent = codes(request({ ...v32, userErrors: 4 }));
    expect(spent.map((c) => c.disabledReason)).toEqual(Array(3).fill(POPUP_TEXT.userErrorLimit(4, 4)));
    expect(codes(request({ userErrors: 9 })).every((c) => c.disabledReason === null)).toBe(true);
  });

  it('says how much of the allowance is used: on a row only once any was, in "More" always', () => {
    const v32 = request({ retryLimit: 48, userErrorLimit: 4 });
    expect(retryCountText(v32, false)).toBeNull();
    expect(retryCountText(v32, true)).toBe('0 of 48 retries used · 0 of 4 loyalty-number replies used');
    expect(retryCountText({ ...v32, retries: 2 }, false)).toBe('2 of 48 retries used · 0 of 4 loyalty-number replies used');
    expect(retryCountText({ ...v32, userErrors: 1 }, false)).toBe('0 of 48 retries used · 1 of 4 loyalty-number replies used');
    expect(retryCountText(request({ retries: 2 }), false)).toBe('2 of 5 retries used');
  });

  it('the traveller’s e-mail addresses as one line, blanks left out; none → null', () => {
    expect(emailText(request({ emailAddresses: ['a@x.example', ' ', 'b@y.example'] }))).toEqual({
      text: 'a@x.example, b@y.example',
      title: 'E-mail: a@x.example, b@y.example',
    });
    expect(emailText(request({ emailAddresses: [] }))).toBeNull();
    expect(emailText(request({ emailAddresses: [''] }))).toBeNull();
  });

  it('with the exchange unavailable, Connected is offered disabled with the relay’s reason, said above the list', () => {
    const summary = summaryOf([]);
    expect(connectBlocked(summary)).toBeNull();
    expect(connectBlocked(null)).toBeNull();
    const blocked = connectBlocked({ exchange: { state: 'unavailable', reason: 'no partner credentials' } })!;
    expect(blocked).toBe(POPUP_TEXT.connectUnavailable('no partner credentials'));
    expect(connectBlocked({ exchange: { state: 'unavailable', reason: null } })).toBe(POPUP_TEXT.connectUnavailable(null));

    const fresh = replyChoices(request(), NOW, blocked)!;
    expect(fresh.inline[0]).toMatchObject({ code: 'CRSUC', disabledReason: blocked, reasonAbove: true });
    // Nothing on the row is usable: Enter goes to "More", never to a failure reply hidden there.
    expect(fresh.primary).toBeNull();
    expect(fresh.more.every((c) => c.disabledReason === null && !c.reasonAbove)).toBe(true);
    const expired = replyChoices(request({ requestTokenExpiresAt: ago(MIN) }), NOW, blocked)!;
    expect(expired.primary).toBe('CRRET');
    expect(expired.more.find((c) => c.code === 'CRSUC')?.disabledReason).toBe(blocked);
    const failed = replyChoices(request({ status: 'CREU1' }), NOW, blocked)!;
    expect(failed.more.find((c) => c.code === 'CRSUC')?.disabledReason).toBe(blocked);
    // Not blocked: as before.
    expect(replyChoices(request(), NOW, null)!.inline[0]).toMatchObject({ code: 'CRSUC', disabledReason: null, reasonAbove: false });
  });

  it('offers no replies for connected requests, and failed ones only behind "More"', () => {
    expect(replyChoices(request({ status: 'Connected' }), NOW)).toBeNull();
    const failed = replyChoices(request({ status: 'CREU1' }), NOW)!;
    expect(failed.inline).toEqual([]);
    expect(failed.primary).toBeNull();
    expect(failed.more.map((c) => c.code)).toEqual(['CRSUC', 'CREU1', 'CREU2', 'CREU3', 'CRPA1', 'CRPA2', 'CRRET']);
  });

  it('places a request by its reply while Concur has not confirmed it, and back when Concur refuses', () => {
    const r = request();
    expect(displayGroup({ ...r, reply: reply('CRSUC') })).toBe('connected');
    expect(displayGroup({ ...r, reply: reply('CREU1') })).toBe('failed');
    expect(displayGroup({ ...r, reply: reply('CRSUC', { state: 'failed', lastError: 'bad' }) })).toBe('pending');
    expect(displayGroup({ ...r, reply: reply('CRRET') })).toBe('pending');
  });

  it('keeps a CRSUC being exchanged, or waiting for the new token its CRRET asked for, where the click put it', () => {
    const r = request();
    expect(displayGroup({ ...r, reply: reply('CRSUC', { state: 'exchanging' }) })).toBe('connected');
    expect(displayGroup({ ...request({ status: 'CRRET' }), reply: reply('CRSUC', { state: 'waiting_token' }) })).toBe('connected');
    // Finished one way or the other, it is placed as before.
    expect(displayGroup({ ...r, reply: reply('CRSUC', { state: 'failed', lastError: 'no retries left' }) })).toBe('pending');
    expect(['queued', 'exchanging', 'waiting_token'].map((state) => replyInFlight(reply('CRSUC', { state: state as 'queued' })))).toEqual([true, true, true]);
    expect(['sent', 'failed'].map((state) => replyInFlight(reply('CRSUC', { state: state as 'sent' })))).toEqual([false, false]);
    expect(replyInFlight(null)).toBe(false);
  });

  it('says what the relay is doing with a reply: on its way, connecting, asked for a new token, refused; nothing once sent', () => {
    expect(replyStateText(reply('CRRET', { attempts: 1, lastError: 'Concur answered 503' }))).toEqual({
      text: POPUP_TEXT.queued('Ask for a new token', 1, 'Concur answered 503'),
      error: false,
    });
    expect(replyStateText(reply('CRSUC', { state: 'exchanging' }))).toEqual({ text: POPUP_TEXT.exchanging(0, null), error: false });
    expect(POPUP_TEXT.exchanging(0, null)).toMatch(/^Connecting…/);
    expect(replyStateText(reply('CRSUC', { state: 'exchanging', attempts: 2, lastError: 'Concur answered 502' }))?.text).toContain(
      'attempt 2: Concur answered 502',
    );
    const waiting = replyStateText(reply('CRSUC', { state: 'waiting_token', lastError: 'the request token had expired' }))!;
    expect(waiting).toEqual({ text: POPUP_TEXT.waitingToken('the request token had expired'), error: false });
    expect(waiting.text).toMatch(/^Asked Concur for a new token \(the request token had expired\)/);
    expect(replyStateText(reply('CRSUC', { state: 'failed', lastError: 'no retries left' }))).toEqual({
      text: POPUP_TEXT.concurRefused('Connected', 'no retries left'),
      error: true,
    });
    expect(replyStateText(reply('CRSUC', { state: 'sent' }))).toBeNull();
    expect(replyStateText(null)).toBeNull();
  });

  it('reads #request=<id> and #group=<group>', () => {
    expect(parseTarget('#request=abc%20d')).toEqual({ request: 'abc d' });
    expect(parseTarget('#group=pending')).toEqual({ group: 'pending' });
    expect(parseTarget('#group=nope')).toBeNull();
    expect(parseTarget('')).toBeNull();
  });
});

describe('mayReply', () => {
  it('offers replies unless the relay said the role may not send them', () => {
    expect(mayReply(null)).toBe(true);
    expect(mayReply({ name: 'Alice', role: 'replier', prefix: 'trl_alic' })).toBe(true);
    expect(mayReply({ name: 'Ops', role: 'admin', prefix: 'trl_opsx' })).toBe(true);
    expect(mayReply({ name: 'Bob', role: 'viewer', prefix: 'trl_bobx' })).toBe(false);
    expect(mayReply({ name: 'Back office', role: 'broker', prefix: 'trl_brok' })).toBe(false);
  });
});

describe('replyByText', () => {
  it('names who asked for the reply and how long ago it changed', () => {
    expect(replyByText(reply('CRSUC', { requestedBy: 'Alice', updatedAt: ago(2 * MIN) }), NOW)).toBe('Connected by Alice · 2 min ago');
    expect(replyByText(reply('CRRET', { requestedBy: 'Bob', updatedAt: ago(10_000) }), NOW)).toBe('“Ask for a new token” by Bob · just now');
    expect(replyByText(reply('CREU1', { requestedBy: 'Bob', state: 'failed', updatedAt: ago(3 * 60 * MIN) }), NOW)).toBe(
      '“Loyalty number not found” by Bob · 3 h ago',
    );
  });

  it('says "automatically" for auto-connect, and nothing when the relay does not know who asked', () => {
    expect(replyByText(reply('CRSUC', { requestedBy: 'auto', state: 'sent', updatedAt: ago(MIN) }), NOW)).toBe('Connected automatically · 1 min ago');
    expect(replyByText(reply('CRSUC', { requestedBy: null }), NOW)).toBeNull();
    expect(replyByText(null, NOW)).toBeNull();
  });
});

describe('auto-connect on a row', () => {
  const pending = (over: Parameters<typeof request>[0]) => request({ status: 'Pending', firstSeenAt: ago(MIN), lastModified: ago(MIN), ...over });

  it('says the directory’s answer from the one texts table, with its note', () => {
    const said = (result: 'member' | 'not_found' | 'name_mismatch' | 'needs_verification' | 'unknown', note: string | null = null) =>
      matchText(pending({ match: { result, note, at: ago(MIN) } }), true)?.text;
    expect(said('not_found')).toBe('directory: not found');
    expect(said('name_mismatch')).toBe('directory: name mismatch');
    expect(said('needs_verification')).toBe('directory: needs verification');
    expect(said('unknown')).toBe('directory did not answer');
    expect(said('unknown', 'timeout after 5 s')).toBe('directory did not answer (timeout after 5 s)');
    expect(said('member')).toBe(POPUP_TEXT.directory.member);
  });

  it('"auto-connecting…" while the directory has yet to answer; nothing on a relay that asks none', () => {
    const fresh = pending({ firstSeenAt: ago(2_000) });
    expect(matchText(fresh, true)).toEqual({ text: POPUP_TEXT.askingDirectory, auto: true });
    expect(POPUP_TEXT.askingDirectory.startsWith('auto-connecting…')).toBe(true);
    expect(matchText(fresh, false)).toBeNull();
    // No grace period: the relay records an answer (or the failed call) on every request it asks about.
    expect(matchText(pending({ firstSeenAt: ago(30 * MIN) }), true)).toEqual({ text: POPUP_TEXT.askingDirectory, auto: true });
  });

  it('an auto reply on its way is "auto-connecting…", whatever step the exchange is at; a person’s keeps its detail', () => {
    for (const state of ['queued', 'exchanging', 'waiting_token'] as const) {
      expect(replyStateText(reply('CRSUC', { state, requestedBy: 'auto' }))).toEqual({ text: 'auto-connecting…', error: false });
    }
    expect(replyStateText(reply('CREU1', { requestedBy: 'auto' }))?.text).toBe(POPUP_TEXT.autoReplying('Loyalty number not found'));
    expect(replyStateText(reply('CRSUC', { state: 'exchanging', requestedBy: 'Alice' }))?.text).toBe(POPUP_TEXT.exchanging(0, null));
    // Refused by Concur: said as for anyone's reply, an error a person now has to look at.
    expect(replyStateText(reply('CRSUC', { state: 'failed', requestedBy: 'auto', lastError: 'bad' }))?.error).toBe(true);
  });
});

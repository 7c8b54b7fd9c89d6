import { afterEach, describe, expect, it } from 'vitest';
import type { AppliedReply } from '../../../relay/sandbox/context.js';
import { type RunningSandbox, startSandbox } from '../../../relay/sandbox/server.js';
import { CR, inProcess, putXml } from './helpers.js';

/**
 * What a Concur does with a reply it already has (undocumented, so a quirk), how many PUTs each
 * request accepted, and the hook a process test uses to kill the relay between Concur's 204 and
 * the relay hearing it.
 */

describe('sandbox: a repeated reply', () => {
  it.each([
    ['CRSUC', 'Connected'],
    ['CREU1', 'Failed'],
    ['CRPA2', 'Failed'],
  ] as const)('%s twice: refused with 400 by default; accepted with 204 (nothing changes) under repeatReplies: accept', async (code, state) => {
    const { sb, call, control, clock } = inProcess();
    const request = sb.state.add();
    expect((await call(`${CR}/${request.id}`, putXml(code))).status).toBe(204);
    const applied = { ...sb.state.get(request.id)! };
    expect(applied).toMatchObject({ status: state, lastReply: code, successfulPuts: 1 });

    expect((await call(`${CR}/${request.id}`, putXml(code))).status).toBe(400);
    expect(sb.state.get(request.id)!.successfulPuts).toBe(1);

    const set = await control('PUT', '/quirks', { repeatReplies: 'accept' });
    expect(((await set.json()) as { quirks: Record<string, unknown> }).quirks).toMatchObject({ repeatReplies: 'accept' });
    clock.advance(60_000);
    expect((await call(`${CR}/${request.id}`, putXml(code))).status).toBe(204);
    expect(sb.state.get(request.id)).toMatchObject({
      status: state,
      lastReply: code,
      lastModified: applied.lastModified,
      successfulPuts: 2,
    });
    // Only a repeat is accepted: another code on a finished request is still refused.
    const other = code === 'CRSUC' ? 'CREU2' : 'CRSUC';
    expect((await call(`${CR}/${request.id}`, putXml(other))).status).toBe(400);
    const view = (await (await control('GET', `/requests/${request.id}`)).json()) as { request: Record<string, unknown> };
    expect(view.request).toMatchObject({ status: state, successfulPuts: 2 });
  });

  it('a second CRRET is another retry whatever the quirk; refused PUTs are not counted', async () => {
    const { sb, call } = inProcess({ quirks: { repeatReplies: 'accept' } });
    const request = sb.state.add();
    const first = request.requestToken;
    expect((await call(`${CR}/${request.id}`, putXml('CRRET'))).status).toBe(204);
    const second = sb.state.get(request.id)!.requestToken;
    expect((await call(`${CR}/${request.id}`, putXml('CRRET'))).status).toBe(204);
    expect(sb.state.get(request.id)).toMatchObject({ status: 'Pending', retries: 2, successfulPuts: 2 });
    expect(new Set([first, second, sb.state.get(request.id)!.requestToken]).size).toBe(3);
    expect((await call(`${CR}/${request.id}`, putXml('Pending'))).status).toBe(400);
    expect(sb.state.get(request.id)!.successfulPuts).toBe(2);
  });

  it('reset goes back to refusing repeats', async () => {
    const { sb, control } = inProcess({ quirks: {} });
    await control('PUT', '/quirks', { repeatReplies: 'accept' });
    sb.reset();
    expect(sb.quirks.repeatReplies).toBe('refuse');
    expect((await control('PUT', '/quirks', { repeatReplies: 'sometimes' })).status).toBe(400);
  });
});

describe('sandbox: the onReplyApplied hook (over HTTP)', () => {
  let sb: RunningSandbox | undefined;
  afterEach(async () => {
    await sb?.close();
    sb = undefined;
  });

  it('runs once the PUT is applied and before the 204 is written; the answer waits for it', async () => {
    sb = await startSandbox({ seed: false, random: 5 });
    const request = sb.state.add();
    const heard: AppliedReply[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    sb.hooks.onReplyApplied = async (reply) => {
      heard.push(reply);
      await held;
    };
    let answered = false;
    const put = fetch(`${sb.url}${CR}/${request.id}`, {
      ...putXml('CRSUC'),
      headers: { 'Content-Type': 'application/xml', Authorization: `OAuth ${sb.accessToken}` },
    }).then((res) => {
      answered = true;
      return res.status;
    });
    for (let i = 0; i < 200 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(heard).toEqual([{ requestId: request.id, status: 'CRSUC', repeated: false }]);
    // Concur has the reply; the client has heard nothing yet.
    expect(sb.state.get(request.id)).toMatchObject({ status: 'Connected', successfulPuts: 1 });
    await new Promise((r) => setTimeout(r, 30));
    expect(answered).toBe(false);
    release();
    expect(await put).toBe(204);
    const [call] = sb.calls.list().filter((c) => c.route === 'put');
    expect(call).toMatchObject({ requestId: request.id, status: 204 });
  });

  it('is not called for a refused PUT', async () => {
    sb = await startSandbox({ seed: false, random: 5, hooks: {} });
    const request = sb.state.add({ status: 'Connected' });
    const heard: AppliedReply[] = [];
    sb.hooks.onReplyApplied = (reply) => void heard.push(reply);
    const res = await fetch(`${sb.url}${CR}/${request.id}`, {
      ...putXml('CRSUC'),
      headers: { 'Content-Type': 'application/xml', Authorization: `OAuth ${sb.accessToken}` },
    });
    expect(res.status).toBe(400);
    expect(heard).toEqual([]);
  });
});

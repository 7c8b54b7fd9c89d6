import { randomBytes } from 'node:crypto';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MatchAnswer, type MatchRequest } from '../../../shared/match.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import type { SandboxRequest } from '../../../relay/sandbox/state.js';

/**
 * The sandbox's demo member directory: signed questions only (checked by the sandbox's own code,
 * here against the reference library's signatures), and deterministic answers about the
 * travellers the sandbox holds.
 */

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let sandbox: RunningSandbox;

beforeEach(async () => {
  sandbox = await startSandbox({ random: 21, directory: { secret: SECRET } });
});
afterEach(async () => {
  await sandbox.close();
});

function question(request: Pick<SandboxRequest, 'id' | 'firstName' | 'middleName' | 'lastName' | 'loyaltyNumber'>): string {
  const body: MatchRequest = {
    type: 'match.request',
    timestamp: new Date().toISOString(),
    data: {
      requestId: request.id,
      firstName: request.firstName,
      middleName: request.middleName,
      lastName: request.lastName,
      loyaltyNumber: request.loyaltyNumber,
      emailAddresses: [],
    },
  };
  return JSON.stringify(body);
}

async function ask(body: string, secret = SECRET, at = new Date()): Promise<Response> {
  const id = `msg_${randomBytes(8).toString('hex')}`;
  return fetch(`${sandbox.url}/_sandbox/directory`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new StandardWebhook(secret).sign(id, at, body),
    },
    body,
  });
}

describe("the sandbox's demo member directory", () => {
  it('answers every kind of answer about the seeded travellers, by their place in the queue, the same way each time', async () => {
    const seeded = sandbox.state.all();
    expect(seeded).toHaveLength(12);
    const answers: MatchAnswer[] = [];
    for (const request of seeded) {
      const res = await ask(question(request));
      expect(res.status).toBe(200);
      answers.push(MatchAnswer.parse(await res.json()));
    }
    expect(answers.map((a) => a.result)).toEqual([
      'member',
      'member',
      'not_found',
      'member',
      'name_mismatch',
      'member',
      'unknown',
      'member',
      'needs_verification',
      'member',
      'member',
      'member',
    ]);
    expect(answers[0]).toEqual({ result: 'member', memberId: `TL-${seeded[0]!.loyaltyNumber}` });
    expect(MatchAnswer.parse(await (await ask(question(seeded[2]!))).json())).toEqual(answers[2]);
    const log = (await (await fetch(`${sandbox.url}/_sandbox/directory`)).json()) as { configured: boolean; calls: Array<{ requestId: string; result: string }> };
    expect(log.configured).toBe(true);
    expect(log.calls.map((call) => call.result)).toEqual([...answers.map((a) => a.result), 'not_found']);
  });

  it('says not_found for a request or loyalty number it does not know, name_mismatch for another name', async () => {
    const known = sandbox.state.all()[0]!;
    const cases: Array<[Parameters<typeof question>[0], string]> = [
      [{ ...known, id: 'NotAtConcur' }, 'not_found'],
      [{ ...known, loyaltyNumber: '99999999' }, 'not_found'],
      [{ ...known, loyaltyNumber: null }, 'not_found'],
      [{ ...known, lastName: 'Someone-Else' }, 'name_mismatch'],
    ];
    for (const [asked, result] of cases) {
      expect(MatchAnswer.parse(await (await ask(question(asked))).json()).result).toBe(result);
    }
  });

  it('refuses with 401 a question signed with another secret, changed after signing, or too old', async () => {
    const body = question(sandbox.state.all()[0]!);
    expect((await ask(body, `whsec_${randomBytes(32).toString('base64')}`)).status).toBe(401);
    expect((await ask(body, SECRET, new Date(Date.now() - 10 * 60_000))).status).toBe(401);
    const id = 'msg_tampered';
    const at = new Date();
    const tampered = body.replace('"emailAddresses":[]', '"emailAddresses":["someone@example.com"]');
    expect(tampered).not.toBe(body);
    const res = await fetch(`${sandbox.url}/_sandbox/directory`, {
      method: 'POST',
      headers: {
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': new StandardWebhook(SECRET).sign(id, at, body),
      },
      body: tampered,
    });
    expect(res.status).toBe(401);
    expect((await fetch(`${sandbox.url}/_sandbox/directory`, { method: 'POST', body })).status).toBe(401);
    const log = (await (await fetch(`${sandbox.url}/_sandbox/directory`)).json()) as { calls: Array<{ signature: string }> };
    expect(log.calls.map((call) => call.signature)).toEqual(['bad', 'bad', 'bad', 'bad']);
  });

  it('is off (404) in a sandbox started without a secret, and a reset forgets its calls', async () => {
    const plain = await startSandbox({ seed: 1 });
    try {
      expect((await fetch(`${plain.url}/_sandbox/directory`, { method: 'POST', body: '{}' })).status).toBe(404);
    } finally {
      await plain.close();
    }
    await ask(question(sandbox.state.all()[0]!));
    sandbox.reset();
    expect(sandbox.directory.calls()).toEqual([]);
  });
});

import { errorCodes, isErrorCode } from '../../src/errors/registry.js';
import { cardNumberIn } from './cardNumbers.js';
import type { Expectation, Hostile, RawBytes } from './hostileRequests.js';
import type { WireAnswer, WireRequest, WireResult } from './wire.js';

/**
 * What every answer to every request must be (no 5xx; a 4xx is a registered problem document
 * whose status matches the registry; no card number comes back), and what a request's own
 * expectation adds. Returns the violations, empty when the answer is acceptable.
 */
export function judge(h: Hostile, sent: WireRequest | RawBytes, result: WireResult): string[] {
  const violations: string[] = [];
  for (const status of result.statusLines) if (status >= 500) violations.push(`answered ${status}`);
  if (result.answers.length === 0) {
    if (!h.mayNotAnswer) violations.push(`no answer (${result.error ?? 'connection closed'})`);
    return violations;
  }
  const head = 'method' in sent ? sent.method === 'HEAD' : sent.head === true;
  for (const answer of result.answers) violations.push(...everyAnswer(answer, head, 'target' in sent ? sent.target : ''));
  if (h.expect) violations.push(...expected(h.expect, result.answers[0]!, head));
  return violations;
}

function everyAnswer(answer: WireAnswer, head: boolean, target: string): string[] {
  const out: string[] = [];
  const text = answer.body.toString('utf8');
  if (answer.status >= 400) {
    const type = answer.headers['content-type'] ?? '(none)';
    if (!type.startsWith('application/problem+json')) out.push(`${answer.status} with content-type ${type}, not application/problem+json: ${text.slice(0, 200)}`);
    if (!head) {
      let problem: Record<string, unknown> | null = null;
      try {
        problem = JSON.parse(text) as Record<string, unknown>;
      } catch {
        out.push(`${answer.status} body is not JSON: ${text.slice(0, 200)}`);
      }
      if (problem !== null) {
        const code = problem.code;
        if (typeof code !== 'string' || !isErrorCode(code)) out.push(`${answer.status} carries code ${JSON.stringify(code)}, which is not in errorCodes`);
        else if (errorCodes[code].status !== answer.status) out.push(`${answer.status} carries code ${code}, registered with status ${errorCodes[code].status}`);
        if (problem.status !== answer.status) out.push(`problem status ${JSON.stringify(problem.status)} differs from HTTP status ${answer.status}`);
        for (const member of ['type', 'title', 'detail']) if (typeof problem[member] !== 'string') out.push(`problem has no string "${member}"`);
        if (/\bat .*\.(js|ts):\d+/.test(text)) out.push(`problem carries a stack trace: ${text.slice(0, 200)}`);
      }
    }
  }
  // Whatever Idem answers on its API is either the client's own data it accepted (so stored) or
  // a message about it: a card number there means one got past the guard.
  const found = target.startsWith('/v1') ? cardNumberIn(text) : null;
  if (found) out.push(`the answer carries a card number (${found}): ${text.slice(0, 200)}`);
  return out;
}

function expected(expect: Expectation, answer: WireAnswer, head: boolean): string[] {
  const out: string[] = [];
  if (!expect.status.includes(answer.status)) {
    out.push(`expected status ${expect.status.join(' or ')}, got ${answer.status}: ${answer.body.toString('utf8').slice(0, 300)}`);
    return out;
  }
  if (expect.codes && answer.status >= 400 && !head) {
    const code = (() => {
      try {
        return (JSON.parse(answer.body.toString('utf8')) as { code?: unknown }).code;
      } catch {
        return undefined;
      }
    })();
    if (!expect.codes.includes(String(code))) out.push(`expected code ${expect.codes.join(' or ')}, got ${String(code)}: ${answer.body.toString('utf8').slice(0, 300)}`);
  }
  return out;
}

/** A request as text for a failure report (bodies and long values cut short). */
export function describeSent(sent: WireRequest | RawBytes): string {
  // The API key is a throwaway, but a report has no need to show it.
  const cut = (s: string, n = 300) => {
    const shown = s.replace(/sk_[0-9a-z]{8,}/g, 'sk_…');
    return shown.length > n ? `${shown.slice(0, n)}… (${shown.length} chars)` : shown;
  };
  if (!('method' in sent)) return `raw bytes${sent.end ? ' (then half-close)' : ''}: ${JSON.stringify(cut(sent.bytes.toString('latin1')))}`;
  const headers = sent.headers.map(([k, v]) => `${k}: ${JSON.stringify(cut(v, 120))}`).join(', ');
  const body = sent.body === undefined ? '' : ` body${sent.chunked ? ' (chunked)' : ''} ${JSON.stringify(cut(sent.body.toString('utf8')))}`;
  return `${sent.method} ${JSON.stringify(cut(sent.target, 200))} [${headers}]${body}`;
}

import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/**
 * A response validator over an OpenAPI 3.1 document, standing where Prism's validating proxy
 * would: each answer a client received is looked up by operation (method and path template)
 * and status, and must match what the document says — an explicitly declared status (not only
 * `default`), a declared media type, a body valid against that media type's schema (JSON parsed,
 * text as its string; an event stream's first bytes are not checked), and every
 * Idem header it carries (`Request-Id`, `Idempotent-Replayed`, `Retry-After`,
 * `WWW-Authenticate`) declared on that response.
 */

export interface Checked {
  method: string;
  path: string;
  status: number;
  /** Empty when the document describes the answer. */
  problems: string[];
}

interface MediaObject {
  schema?: unknown;
}
interface ResponseObject {
  headers?: Record<string, unknown>;
  content?: Record<string, MediaObject>;
}
interface OpenApi {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>;
}

const IDEM_HEADERS = ['request-id', 'idempotent-replayed', 'retry-after', 'www-authenticate'];
const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

export class ResponseValidator {
  readonly seen: Checked[] = [];
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });

  constructor(private readonly doc: OpenApi) {
    (addFormats as unknown as (a: Ajv2020) => void)(this.ajv);
    this.ajv.addSchema(doc as object, 'openapi');
  }

  /** Checks one answer; `body` is its text. Records and returns the verdict. */
  check(method: string, template: string, status: number, headers: Headers, body: string): Checked {
    const problems: string[] = [];
    const m = method.toLowerCase();
    const op = this.doc.paths[template]?.[m];
    const key = op && (op.responses[String(status)] ? String(status) : op.responses[`${String(status)[0]}XX`] ? `${String(status)[0]}XX` : null);
    if (!op) problems.push(`no operation ${method} ${template}`);
    else if (key === null) problems.push(`status ${status} is not declared (only \`default\` would take it)`);
    const declared = key ? op!.responses[key]! : undefined;
    if (declared) {
      const media = (headers.get('content-type') ?? '').split(';', 1)[0]!.trim();
      const content = declared.content ?? {};
      if (!(media in content)) problems.push(`media type "${media}" is not declared (have ${Object.keys(content).join(', ') || 'none'})`);
      else if (media !== 'text/event-stream') {
        // JSON bodies are parsed; a text body (`text/plain`, `text/html`) is checked as the string it is.
        const validate = this.ajv.getSchema(`openapi#/${pointer('paths', template, m, 'responses', key!, 'content', media, 'schema')}`);
        let value: unknown = media.endsWith('json') ? undefined : body;
        if (media.endsWith('json')) {
          try {
            value = JSON.parse(body);
          } catch {
            problems.push('the body is not JSON');
          }
        }
        if (validate && value !== undefined && !validate(value)) problems.push(`body: ${this.ajv.errorsText(validate.errors)}`);
      }
      const names = Object.keys(declared.headers ?? {}).map((h) => h.toLowerCase());
      for (const h of IDEM_HEADERS) if (headers.has(h) && !names.includes(h)) problems.push(`header ${h} is sent but not declared`);
      if (!headers.has('request-id')) problems.push('no Request-Id');
    }
    const verdict = { method, path: template, status, problems };
    this.seen.push(verdict);
    return verdict;
  }

  undocumented(): Checked[] {
    return this.seen.filter((c) => c.problems.length > 0);
  }
}

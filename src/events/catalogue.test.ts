import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from './catalogue.js';

describe('the event catalogue', () => {
  it('docs/events.md lists exactly the types src/events/catalogue.ts knows', () => {
    const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Catalogue'), doc.indexOf('## Feed and stream'));
    const documented = [...section.matchAll(/^\| `([a-z_.]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(EVENT_TYPES).sort());
  });
});

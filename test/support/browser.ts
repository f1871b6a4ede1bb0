import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * Debian's chromium driven by playwright-core: nothing downloads a browser. `.ci/run` installs
 * the package when it is missing; a run without it skips loudly, and fails under CI=true.
 */
export const CHROMIUM = process.env.IDEM_TEST_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export interface LaunchedBrowser {
  /** The browser's one context, on the fresh profile: its tabs share cookies and localStorage, not sessionStorage. */
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless chromium on a fresh profile (`--user-data-dir`, which playwright takes as the
 * persistent context's folder) that talks to nothing on its own (no updates, sync, QUIC).
 */
export async function launchChromium(viewport = { width: 1280, height: 900 }): Promise<LaunchedBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'idem-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 60_000,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The serious and critical axe-core violations on the page as it is now, as `rule: target` lines. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated through the debugging protocol, which the page's CSP (script-src 'self') does not govern.
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(AXE_SOURCE);
  const result = (await page.evaluate('window.axe.run(document, { resultTypes: ["violations"] })')) as {
    violations: Array<{ id: string; impact: string | null; nodes: Array<{ target: unknown[] }> }>;
  };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${JSON.stringify(n.target)}`));
}

// In-page code (run by page.evaluate, as text: this project's types have no DOM).
const MARK_CONTROLS = `(() => {
  const controls = [...document.querySelectorAll('a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled])')]
    .filter((el) => el.getClientRects().length > 0);
  controls.forEach((el, i) => el.setAttribute('data-tab-probe', String(i)));
  // Start from the top: focus a throwaway element before everything else (a click moves
  // Chrome's starting point for Tab, and a blur does not move it back).
  const start = document.createElement('span');
  start.tabIndex = -1;
  document.body.prepend(start);
  start.focus();
  start.addEventListener('blur', () => start.remove(), { once: true });
  return controls.length;
})()`;
const FOCUSED_PROBE = `document.activeElement ? document.activeElement.getAttribute('data-tab-probe') : null`;
const UNREACHED = (seen: string[]) => `(() => {
  const seen = ${JSON.stringify(seen)};
  const missed = [...document.querySelectorAll('[data-tab-probe]')].filter((el) => !seen.includes(el.getAttribute('data-tab-probe')));
  document.querySelectorAll('[data-tab-probe]').forEach((el) => el.removeAttribute('data-tab-probe'));
  return missed.map((el) => el.tagName.toLowerCase() + ' "' + ((el.textContent || '').trim().slice(0, 40) || el.getAttribute('aria-label') || el.id) + '"');
})()`;

/**
 * Presses Tab from the top of the page until every control had focus, and answers the visible
 * controls (links, buttons, inputs, selects, textareas) focus never reached.
 */
export async function controlsTabMisses(page: Page): Promise<string[]> {
  const total = (await page.evaluate(MARK_CONTROLS)) as number;
  const reached = new Set<string>();
  for (let i = 0; i < 2 * total + 10 && reached.size < total; i++) {
    await page.keyboard.press('Tab');
    const probe = (await page.evaluate(FOCUSED_PROBE)) as string | null;
    if (probe !== null) reached.add(probe);
  }
  return (await page.evaluate(UNREACHED([...reached]))) as string[];
}

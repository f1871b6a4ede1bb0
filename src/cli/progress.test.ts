import { describe, expect, it } from 'vitest';
import { commandProgress, progressLine } from './progress.js';

describe('progress of long commands', () => {
  it('draws a bar when the end is known, a count when it is not, nothing for a phase without one', () => {
    expect(progressLine({ phase: 'checking payments', done: 500, total: 1_000 }, 1_234)).toBe('checking payments [############............] 500/1000 · 1.2 s');
    expect(progressLine({ phase: 'migrations', done: 0, total: 0 }, 0)).toBe('migrations [########################] 0/0 · 0.0 s');
    expect(progressLine({ phase: 'sim-a: reading the log', done: 1_500, total: null }, 0)).toBe('sim-a: reading the log 1500 · 0.0 s');
    expect(progressLine({ phase: 'summarizing the books', done: 0, total: null }, 0)).toBe('summarizing the books · 0.0 s');
  });

  it('redraws one line on a terminal and leaves the last state on screen', () => {
    const written: string[] = [];
    const progress = commandProgress({ isTTY: true, write: (t: string) => written.push(t) });
    progress.report({ phase: 'migration 000001.sql', done: 0, total: 2 });
    progress.report({ phase: 'migrations', done: 2, total: 2 });
    progress.stop();
    expect(written[0]).toMatch(/^\r\x1b\[Kmigration 000001\.sql \[\.+\] 0\/2 · /);
    expect(written.at(-1)).toMatch(/^\r\x1b\[Kmigrations \[#+\] 2\/2 · [\d.]+ s\n$/);
  });

  it('writes nothing when the output is not a terminal', () => {
    const written: string[] = [];
    const progress = commandProgress({ isTTY: false, write: (t: string) => written.push(t) });
    progress.report({ phase: 'migrations', done: 1, total: 2 });
    progress.stop();
    expect(written).toEqual([]);
  });
});

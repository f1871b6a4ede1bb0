import type { OnProgress, ProgressStep } from '../ports/progress.js';
import { bar, Progress, seconds, type DemoOutput } from './demo/progress.js';

/** A long command's progress: report steps to it, then stop it before printing the result. */
export interface CommandProgress {
  report: OnProgress;
  stop(): void;
}

/** One step as a line: phase, a bar when the end is known, the count, the time so far. */
export function progressLine(step: ProgressStep, elapsedMs: number): string {
  const { phase, done, total } = step;
  const count = total === null ? (done === 0 ? '' : ` ${done}`) : ` ${bar(total === 0 ? 1 : Math.min(done, total), Math.max(total, 1))} ${done}/${total}`;
  return `${phase}${count} · ${seconds(elapsedMs)}`;
}

/**
 * On a terminal, one redrawn line on `out` (stderr, so stdout stays the command's answer);
 * anywhere else nothing, so logs and pipes get only the result. Time is the wall clock: the
 * CLI is an adapter (docs/architecture.md).
 */
export function commandProgress(out: DemoOutput = process.stderr): CommandProgress {
  if (out.isTTY !== true) return { report: () => {}, stop: () => {} };
  const started = Date.now();
  let step: ProgressStep | null = null;
  const progress = new Progress(out);
  return {
    report(next) {
      const first = step === null;
      step = next;
      if (first) progress.start(() => progressLine(step!, Date.now() - started));
    },
    stop() {
      if (step !== null) progress.stop();
    },
  };
}

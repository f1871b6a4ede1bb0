/**
 * How far a long operation got (`idem migrate`, `idem ledger verify`, `idem reconcile` on a
 * large database), for whoever shows it: the CLI draws a bar on a terminal (src/cli/progress.ts).
 * Reported at most once per unit of work that may take a while (a migration, a page, a
 * thousand payments); reporting must never change what the operation does.
 */
export interface ProgressStep {
  /** What is being done, e.g. `checking payments` or `sim-a: reading the log`. */
  phase: string;
  done: number;
  /** Null when the end is not known in advance (pages of a log). */
  total: number | null;
}

export type OnProgress = (step: ProgressStep) => void;

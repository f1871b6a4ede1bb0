/**
 * What the loop's scored matcher learned, kept across restarts (docs/reconciliation.md, "What
 * the loop learns"): the evidence is stored after each pass that changed it and loaded before
 * each pass, so a restarted process — or another instance — starts from the learned weights,
 * not from the priors. Last writer wins: every instance learns from the same records, and a
 * pass reloads what another wrote since its own last write.
 *
 *   instance A                          instance B (started later)
 *   pass: load (none) → learn → save ─┐
 *                                     └─ pass: load (A's, newer) → restore → learn → save
 */
import type { Clock } from '../ports/clock.js';
import type { ReconciliationStore } from './store.js';
import type { ReconciliationLog } from './casework.js';
import type { LearningMatcher } from './loopMatcher.js';
import { isModelCounts, type ModelCounts } from './match/model.js';

/** The name the loop's model is stored under (`reconciliation_models.name`). */
export const LOOP_MODEL = 'loop';

/** Loads and saves one learning matcher's evidence through the store. */
export class LearnedModel {
  /** The evidence last loaded or saved, and when it was written (never: the matcher's own start, at 0). */
  private kept: { counts: ModelCounts; updatedAt: number | null };

  constructor(
    private readonly store: Pick<ReconciliationStore, 'loadMatchModel' | 'saveMatchModel'>,
    private readonly matcher: LearningMatcher,
    private readonly clock: Clock,
    private readonly log?: ReconciliationLog | undefined,
  ) {
    this.kept = { counts: matcher.history, updatedAt: null };
  }

  /** Before a pass: takes the stored evidence when it is newer than what this process kept. */
  async load(): Promise<void> {
    const stored = await this.store.loadMatchModel(LOOP_MODEL);
    if (stored === null || stored.updatedAt === this.kept.updatedAt) return;
    if (!isModelCounts(stored.counts)) {
      // Written by a build with other features: unusable here. Keep learning; the next save replaces it.
      this.log?.warn({ model: LOOP_MODEL }, 'reconciliation: the stored match model does not fit these features; starting from what this process knows');
      this.kept = { counts: this.matcher.history, updatedAt: stored.updatedAt };
      return;
    }
    this.matcher.restore(stored.counts);
    this.kept = { counts: this.matcher.history, updatedAt: stored.updatedAt };
  }

  /** After a pass: stores the evidence if the pass changed it. */
  async save(): Promise<void> {
    const counts = this.matcher.history;
    if (counts === this.kept.counts) return;
    const now = this.clock.now();
    await this.store.saveMatchModel(LOOP_MODEL, counts, now);
    this.kept = { counts, updatedAt: now };
  }
}

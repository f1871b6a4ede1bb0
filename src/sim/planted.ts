/**
 * Bugs the simulator must be able to find, planted only inside the simulator's own wrappers
 * (never in Idem's code paths) and only when a run asks for one:
 * - `skip-fence`: fenced writes never refuse: `guardKey` / `bindKeyResource` / `completeKey`
 *   answer true for a stale fence, as if the gate's claim did not check its fence.
 * - `failover-on-unknown`: an unknown gateway outcome is handed to the pipeline as "not
 *   processed", so it retries or fails over under a new gateway key while the first may have
 *   executed.
 * - `early-response`: the stored response of a key is committed the moment `completeKey` runs,
 *   before the transaction holding the business change commits; a crash before that commit
 *   leaves a final answer for a change that never happened.
 * - `void-real-authorization`: a remediation void reaches the gateway for the payment's own
 *   authorization instead of the duplicate it was decided for (I7).
 */
export const plantedBugs = ['skip-fence', 'failover-on-unknown', 'early-response', 'void-real-authorization'] as const;

/** One of {@link plantedBugs}. */
export type PlantedBug = (typeof plantedBugs)[number];

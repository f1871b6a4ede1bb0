/**
 * Work done in passes, one at a time (the webhook delivery worker, the stream publishers; see
 * docs/events.md): a kick while a pass runs asks for one more right after it, and a pass that
 * filled its batch asks for one more by returning true. A failed pass is reported and the next
 * kick (or timer) tries again.
 */
export interface Passes {
  kick(): void;
  /** The pass running now, if any. */
  current(): Promise<void> | null;
  /** No pass starts after this; one running goes on to its end (await `current()`). */
  stop(): void;
}

export function serialPasses(pass: () => Promise<boolean | void>, onError: (err: unknown) => void): Passes {
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  const kick = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .then((more) => {
        if (more) again = true;
      }, onError)
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          kick();
        }
      });
  };
  return {
    kick,
    current: () => running,
    stop: () => {
      stopped = true;
    },
  };
}

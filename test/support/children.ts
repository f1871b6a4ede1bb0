import type { ChildProcess } from 'node:child_process';

const running = new Map<number, ChildProcess>();

// Last resort for a worker that dies without running afterAll: no orphaned servers. By pid only.
process.once('exit', () => {
  for (const pid of running.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export interface TrackedChild {
  pid: number;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** Sends `signal` if the process still runs, then waits for its exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Tracks a child this test started, so it can be killed by pid and never outlives the worker. */
export function track(child: ChildProcess, what: string): TrackedChild {
  if (child.pid === undefined) throw new Error(`could not spawn ${what}`);
  const pid = child.pid;
  running.set(pid, child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(pid);
      resolve({ code, signal });
    });
  });
  return {
    pid,
    exited,
    isRunning: () => running.has(pid),
    async kill(signal) {
      if (running.has(pid)) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}

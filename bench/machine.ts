/**
 * CPU accounting from Linux `/proc`, so each figure comes with where its CPU went and how busy
 * the rest of the machine was meanwhile. Everything answers null elsewhere than Linux.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc` times (USER_HZ; 100 on every mainstream Linux). */
const TICK_MICROS = 10_000;

/** CPU time (user + system) of a process so far, in microseconds. */
export function processCpuMicros(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MICROS;
  } catch {
    return null;
  }
}

/**
 * CPU time spent in processes on the whole machine so far (user + nice + system, all CPUs), in
 * microseconds. Interrupt time is left out: loopback traffic lands there, whoever sent it.
 */
export function machineCpuMicros(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [, user, nice, system] = line.trim().split(/\s+/).map(Number);
    return (user! + nice! + system!) * TICK_MICROS;
  } catch {
    return null;
  }
}

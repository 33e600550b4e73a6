// Process statistics from Linux /proc: CPU time (utime + stime, all threads) and resident memory
// (VmRSS now, VmHWM = peak), a sampler that tracks the peak RSS of a server while it runs, and the
// machine's total busy time (to tell how much CPU other processes took: a noisy machine).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicks;

/** Clock ticks per second of /proc/<pid>/stat times (getconf CLK_TCK; 100 on practically all Linux). */
export function clockTicksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU seconds (user + system) used so far by the process, or null if it is gone. */
export function cpuSeconds(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  // The rest starts at field 3 (state); utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return (utime + stime) / clockTicksPerSecond();
}

/** { rssKb, hwmKb } from /proc/<pid>/status, or null if the process is gone. */
export function memoryKb(pid) {
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : 0;
  };
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM'), anonKb: field('RssAnon') };
}

/**
 * Samples VmRSS every `intervalMs` and remembers the peak; stop() also folds in VmHWM (the kernel's own
 * peak, which catches spikes between samples). Call stop() before the process exits.
 * Also the peak of RssAnon (sampled only; the kernel keeps no peak of it): the process's own memory, without
 * the pages of the node binary and libraries it maps from files. A container's limit has to hold both: the
 * file pages can be dropped and read again, but a cold start in a limit too small for them thrashes
 * (docs/DECISIONS.md, "The container's memory limit").
 */
export class RssSampler {
  constructor(pid, intervalMs = 100) {
    this.pid = pid;
    this.peakKb = 0;
    this.peakAnonKb = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample() {
    const mem = memoryKb(this.pid);
    if (!mem) return;
    this.peakKb = Math.max(this.peakKb, mem.rssKb, mem.hwmKb);
    this.peakAnonKb = Math.max(this.peakAnonKb, mem.anonKb);
  }

  /** Stops sampling; returns the peak RSS in kB. */
  stop() {
    clearInterval(this.timer);
    this.sample();
    return this.peakKb;
  }
}

/**
 * CPU seconds the whole machine has spent busy so far (all CPUs: user + nice + system + steal, from
 * /proc/stat). Interrupt and softirq time are left out: on loopback they are mostly the benchmark's own
 * network traffic.
 */
export function machineBusySeconds() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]; // "cpu  user nice system idle iowait irq softirq steal ..."
  const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + (steal || 0)) / clockTicksPerSecond();
}

/** Busy CPU seconds per CPU so far (user + nice + system + steal), indexed by CPU number. */
export function perCpuBusySeconds() {
  const busy = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const [user, nice, system, , , , , steal] = match[2].split(/\s+/).map(Number);
    busy[Number(match[1])] = (user + nice + system + (steal || 0)) / clockTicksPerSecond();
  }
  return busy;
}

/** CPU seconds of a process including its waited-for children (utime + stime + cutime + cstime). */
export function cpuSecondsWithChildren(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [14, 15, 16, 17].reduce((sum, field) => sum + Number(fields[field - 3]), 0) / clockTicksPerSecond();
}

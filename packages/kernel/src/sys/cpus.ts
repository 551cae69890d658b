import { readFileSync } from 'node:fs';

/** Parses a kernel CPU list such as `0-3,5,7-8`. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

let possible: number | undefined;

/** Number of possible CPUs: per-CPU map values have one slot for each (libbpf's `libbpf_num_possible_cpus`). */
export function possibleCpus(): number {
  if (possible === undefined) {
    try {
      possible = parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8')).length;
    } catch {
      possible = 1;
    }
  }
  return possible;
}

/** CPUs that are online now (perf buffers open one ring per online CPU). */
export function onlineCpus(): number[] {
  try {
    return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
  } catch {
    return [0];
  }
}

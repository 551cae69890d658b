import { ProgType } from '@tsbpf/core';

/** The program types whose helper sets we record (the list). */
export const PROBED_PROG_TYPES: readonly ProgType[] = [
  ProgType.SocketFilter, ProgType.Kprobe, ProgType.SchedCls, ProgType.Tracepoint, ProgType.Xdp,
  ProgType.PerfEvent, ProgType.CgroupSkb, ProgType.RawTracepoint,
];

/**
 * Whether a verifier log of a program calling one helper shows that the helper itself was
 * accepted for the program type (the rejection, if any, came later: arguments, context, ...).
 */
export function helperAllowedByLog(log: string): boolean {
  return !/unknown func |program of this type cannot use helper|cannot call GPL-restricted function/.test(log);
}

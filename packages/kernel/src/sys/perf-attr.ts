/** `struct perf_event_attr` (PERF_ATTR_SIZE_VER8, 136 bytes) for the events the backend opens. */

export const PerfType = { HARDWARE: 0, SOFTWARE: 1, TRACEPOINT: 2 } as const;
export const PERF_COUNT_SW_BPF_OUTPUT = 10;
export const PERF_SAMPLE_RAW = 1 << 10;
export const PERF_FLAG_FD_CLOEXEC = 1 << 3;
/** ioctl requests on perf event fds. */
export const PerfIoctl = { ENABLE: 0x2400, DISABLE: 0x2401, SET_BPF: 0x40042408 } as const;

export interface PerfAttr {
  type: number;
  config?: bigint;
  samplePeriod?: bigint;
  sampleType?: bigint;
  /** `wakeup_events` */
  wakeupEvents?: number;
  disabled?: boolean;
  /** `config1`: a pointer (to a path or symbol name) patched in by the native layer. */
  config1Ptr?: Uint8Array;
  config2?: bigint;
}

/** Encodes the attr; the second value is the pointer fields to patch (`config1`). */
export function perfEventAttr(a: PerfAttr): { attr: Uint8Array; ptrs: [number, Uint8Array | null][] } {
  const attr = new Uint8Array(136);
  const v = new DataView(attr.buffer);
  v.setUint32(0, a.type, true);
  v.setUint32(4, 136, true);
  v.setBigUint64(8, a.config ?? 0n, true);
  v.setBigUint64(16, a.samplePeriod ?? 1n, true);
  v.setBigUint64(24, a.sampleType ?? 0n, true);
  // flags bitfield: bit 0 disabled
  v.setBigUint64(40, a.disabled ? 1n : 0n, true);
  v.setUint32(48, a.wakeupEvents ?? 1, true);
  v.setBigUint64(64, a.config2 ?? 0n, true);
  return { attr, ptrs: a.config1Ptr ? [[56, a.config1Ptr]] : [] };
}

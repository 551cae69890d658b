/**
 * What the main program may return: the kernel's `check_return_code` (Linux 6.18,
 * `kernel/bpf/verifier.c`) as a table by program type and expected attach type.
 *
 * When a range applies, the kernel checks at every `exit` of the main program, in this order
 * (`%s` is `At program exit`, or `At async callback return` for async callbacks, whose range is
 * the callback's own):
 *
 * 1. R0 must have been written: `R0 !read_ok`.
 * 2. Unprivileged (no `allow_ptr_leaks`): a pointer in R0 is `R0 leaks addr as return value`.
 *    This check comes before the table, so it applies to every program type.
 * 3. R0 must be a scalar: `%s the register R0 is not a known value (%s)`, with the register type
 *    as the log names it (`ctx`, `map_value`, ...).
 * 4. Its signed bounds must lie inside the range:
 *    `%s the register R0 has smin=%lld smax=%lld should have been in [%d, %d]`, where
 *    ` smin=%lld` is printed only when smin > S64_MIN and ` smax=%lld` only when smax < S64_MAX,
 *    and ` unknown scalar value` replaces both when neither is printed. With `return32` (LSM
 *    hooks) the 32-bit signed bounds (`s32_min_value`, `s32_max_value`) are compared instead,
 *    but the message still prints the 64-bit ones.
 *    For an `BPF_LSM_CGROUP` program on a void hook the kernel adds
 *    `Note, BPF_LSM_CGROUP that attach to void LSM hooks can't modify return value!`.
 *
 * Every failure is EINVAL except the pointer leak (EACCES). Subprogram exits only require a
 * scalar (`At subprogram exit the register R0 is not a scalar value (%s)`).
 */
import { AttachType, ProgType } from '@tsbpf/core';
import { effectiveAttachType } from './ctx.js';

/** The allowed values of R0 at the main program's exit. */
export interface RetvalRange {
  /** Smallest allowed value (signed). */
  min: bigint;
  /** Largest allowed value (signed). */
  max: bigint;
  /** Compare the 32-bit signed bounds of R0 instead of the 64-bit ones (LSM hooks). */
  return32?: boolean;
  /**
   * cgroup_skb egress: when R0 is certainly within these values (2 or 3: "congestion
   * notification" verdicts), the kernel marks the program as requiring its expected attach type
   * (`enforce_expected_attach_type`). Not a rejection.
   */
  enforceAttachType?: { min: bigint; max: bigint };
}

/** What is known about the program beyond its type, for the types whose range depends on it. */
export interface RetvalOptions {
  /**
   * The BTF attach target's return type, for LSM and struct_ops programs: `'void'`, `'int'`,
   * `'bool'` (an LSM hook in the kernel's `bool_lsm_hooks` set), or `'ptr'` (struct_ops members
   * returning a pointer). Unknown (undefined): LSM_MAC is taken as an int hook, struct_ops as
   * unrestricted.
   */
  attachReturns?: 'void' | 'int' | 'bool' | 'ptr';
  /**
   * A raw_tracepoint program loaded with an `attach_btf_id` must return 0; without one, anything.
   */
  attachBtfId?: boolean;
}

const range = (min: number, max: number): RetvalRange => ({ min: BigInt(min), max: BigInt(max) });

/** `-MAX_ERRNO`. */
const MAX_ERRNO = 4095;

/** `SK_DROP`, `SK_PASS`; `NF_DROP`, `NF_ACCEPT`. */
const SK_DROP = 0, SK_PASS = 1, NF_DROP = 0, NF_ACCEPT = 1;

/** cgroup_sock_addr hooks whose return value must be 1 (they cannot refuse). */
const SOCK_ADDR_MUST_PASS = new Set<number>([
  AttachType.CgroupUdp4Recvmsg, AttachType.CgroupUdp6Recvmsg, AttachType.CgroupUnixRecvmsg,
  AttachType.CgroupInet4Getpeername, AttachType.CgroupInet6Getpeername, AttachType.CgroupUnixGetpeername,
  AttachType.CgroupInet4Getsockname, AttachType.CgroupInet6Getsockname, AttachType.CgroupUnixGetsockname,
]);

/**
 * The range R0 must lie in at the main program's exit for a program of type `progType` with
 * expected attach type `attachType` (kernel UAPI numbers), or undefined when any value, pointer
 * included for privileged loaders, is accepted.
 *
 * @example
 * retvalRange(ProgType.CgroupSkb, AttachType.CgroupInetEgress); // { min: 0n, max: 3n, enforceAttachType: { min: 2n, max: 3n } }
 * retvalRange(ProgType.Xdp, undefined);                          // undefined: XDP actions are not checked
 */
export function retvalRange(progType: number, attachType: number | undefined, opts: RetvalOptions = {}): RetvalRange | undefined {
  const attach = effectiveAttachType(progType, attachType);
  switch (progType) {
    case ProgType.CgroupSockAddr:
      if (SOCK_ADDR_MUST_PASS.has(attach)) return range(1, 1);
      // bind hooks may also ask the kernel to skip its port-reservation checks (bits 1 and 2)
      if (attach === AttachType.CgroupInet4Bind || attach === AttachType.CgroupInet6Bind) return range(0, 3);
      return range(0, 1);
    case ProgType.CgroupSkb:
      if (attach === AttachType.CgroupInetEgress) return { ...range(0, 3), enforceAttachType: { min: 2n, max: 3n } };
      return range(0, 1);
    case ProgType.CgroupSock:
    case ProgType.SockOps:
    case ProgType.CgroupDevice:
    case ProgType.CgroupSysctl:
    case ProgType.CgroupSockopt:
      return range(0, 1);
    case ProgType.RawTracepoint:
      return opts.attachBtfId ? range(0, 0) : undefined;
    case ProgType.Tracing:
      switch (attach) {
        case AttachType.TraceFentry:
        case AttachType.TraceFexit:
          return range(0, 0);
        case AttachType.TraceIter:
          return range(0, 1);
        default: // raw_tp (tp_btf), fmod_ret: anything; other attach types do not load
          return undefined;
      }
    case ProgType.Kprobe:
      if (attach === AttachType.TraceKprobeSession || attach === AttachType.TraceUprobeSession) return range(0, 1);
      return undefined;
    case ProgType.SkLookup:
      return range(SK_DROP, SK_PASS);
    case ProgType.Lsm:
      if (attach === AttachType.LsmCgroup) return opts.attachReturns === 'void' ? range(1, 1) : range(0, 1);
      if (opts.attachReturns === 'void') return undefined;
      if (opts.attachReturns === 'bool') return { ...range(0, 1), return32: true };
      return { ...range(-MAX_ERRNO, 0), return32: true };
    case ProgType.Netfilter:
      return range(NF_DROP, NF_ACCEPT);
    case ProgType.StructOps:
      return opts.attachReturns === 'ptr' ? range(0, 0) : undefined;
    default:
      // socket filters, tc, xdp, lwt, sk_skb, sk_msg, flow dissector, sk_reuseport, tracepoints,
      // perf events, syscall, ext (checked as its target's type by the kernel: pass that type)
      return undefined;
  }
}

/**
 * The kernel's message when R0's bounds fall outside `r` (`verbose_invalid_scalar`).
 *
 * @example
 * retvalMessage(0n, 0n, { min: 1n, max: 1n }); // 'At program exit the register R0 has smin=0 smax=0 should have been in [1, 1]'
 */
export function retvalMessage(smin: bigint, smax: bigint, r: { min: bigint; max: bigint }, where = 'At program exit', reg = 'R0'): string {
  const S64_MIN = -(1n << 63n), S64_MAX = (1n << 63n) - 1n;
  let has = '';
  if (smin > S64_MIN) has += ` smin=${smin}`;
  if (smax < S64_MAX) has += ` smax=${smax}`;
  if (!has) has = ' unknown scalar value';
  return `${where} the register ${reg} has${has} should have been in [${r.min}, ${r.max}]`;
}

import { enumFromName } from './names.js';

/**
 * The kernel's `enum bpf_prog_type` (`include/uapi/linux/bpf.h`), with the kernel's numbering: values
 * pass straight through to bpf(). Names are the kernel names without `BPF_PROG_TYPE_`, in CamelCase.
 */
export enum ProgType {
  /** `BPF_PROG_TYPE_UNSPEC` */
  Unspec = 0,
  /** `BPF_PROG_TYPE_SOCKET_FILTER` */
  SocketFilter = 1,
  /** `BPF_PROG_TYPE_KPROBE` */
  Kprobe = 2,
  /** `BPF_PROG_TYPE_SCHED_CLS` */
  SchedCls = 3,
  /** `BPF_PROG_TYPE_SCHED_ACT` */
  SchedAct = 4,
  /** `BPF_PROG_TYPE_TRACEPOINT` */
  Tracepoint = 5,
  /** `BPF_PROG_TYPE_XDP` */
  Xdp = 6,
  /** `BPF_PROG_TYPE_PERF_EVENT` */
  PerfEvent = 7,
  /** `BPF_PROG_TYPE_CGROUP_SKB` */
  CgroupSkb = 8,
  /** `BPF_PROG_TYPE_CGROUP_SOCK` */
  CgroupSock = 9,
  /** `BPF_PROG_TYPE_LWT_IN` */
  LwtIn = 10,
  /** `BPF_PROG_TYPE_LWT_OUT` */
  LwtOut = 11,
  /** `BPF_PROG_TYPE_LWT_XMIT` */
  LwtXmit = 12,
  /** `BPF_PROG_TYPE_SOCK_OPS` */
  SockOps = 13,
  /** `BPF_PROG_TYPE_SK_SKB` */
  SkSkb = 14,
  /** `BPF_PROG_TYPE_CGROUP_DEVICE` */
  CgroupDevice = 15,
  /** `BPF_PROG_TYPE_SK_MSG` */
  SkMsg = 16,
  /** `BPF_PROG_TYPE_RAW_TRACEPOINT` */
  RawTracepoint = 17,
  /** `BPF_PROG_TYPE_CGROUP_SOCK_ADDR` */
  CgroupSockAddr = 18,
  /** `BPF_PROG_TYPE_LWT_SEG6LOCAL` */
  LwtSeg6local = 19,
  /** `BPF_PROG_TYPE_LIRC_MODE2` */
  LircMode2 = 20,
  /** `BPF_PROG_TYPE_SK_REUSEPORT` */
  SkReuseport = 21,
  /** `BPF_PROG_TYPE_FLOW_DISSECTOR` */
  FlowDissector = 22,
  /** `BPF_PROG_TYPE_CGROUP_SYSCTL` */
  CgroupSysctl = 23,
  /** `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE` */
  RawTracepointWritable = 24,
  /** `BPF_PROG_TYPE_CGROUP_SOCKOPT` */
  CgroupSockopt = 25,
  /** `BPF_PROG_TYPE_TRACING` */
  Tracing = 26,
  /** `BPF_PROG_TYPE_STRUCT_OPS` */
  StructOps = 27,
  /** `BPF_PROG_TYPE_EXT` */
  Ext = 28,
  /** `BPF_PROG_TYPE_LSM` */
  Lsm = 29,
  /** `BPF_PROG_TYPE_SK_LOOKUP` */
  SkLookup = 30,
  /** `BPF_PROG_TYPE_SYSCALL` */
  Syscall = 31,
  /** `BPF_PROG_TYPE_NETFILTER` */
  Netfilter = 32,
}

const NAMES = new Map<number, string>([
  [0, 'BPF_PROG_TYPE_UNSPEC'],
  [1, 'BPF_PROG_TYPE_SOCKET_FILTER'],
  [2, 'BPF_PROG_TYPE_KPROBE'],
  [3, 'BPF_PROG_TYPE_SCHED_CLS'],
  [4, 'BPF_PROG_TYPE_SCHED_ACT'],
  [5, 'BPF_PROG_TYPE_TRACEPOINT'],
  [6, 'BPF_PROG_TYPE_XDP'],
  [7, 'BPF_PROG_TYPE_PERF_EVENT'],
  [8, 'BPF_PROG_TYPE_CGROUP_SKB'],
  [9, 'BPF_PROG_TYPE_CGROUP_SOCK'],
  [10, 'BPF_PROG_TYPE_LWT_IN'],
  [11, 'BPF_PROG_TYPE_LWT_OUT'],
  [12, 'BPF_PROG_TYPE_LWT_XMIT'],
  [13, 'BPF_PROG_TYPE_SOCK_OPS'],
  [14, 'BPF_PROG_TYPE_SK_SKB'],
  [15, 'BPF_PROG_TYPE_CGROUP_DEVICE'],
  [16, 'BPF_PROG_TYPE_SK_MSG'],
  [17, 'BPF_PROG_TYPE_RAW_TRACEPOINT'],
  [18, 'BPF_PROG_TYPE_CGROUP_SOCK_ADDR'],
  [19, 'BPF_PROG_TYPE_LWT_SEG6LOCAL'],
  [20, 'BPF_PROG_TYPE_LIRC_MODE2'],
  [21, 'BPF_PROG_TYPE_SK_REUSEPORT'],
  [22, 'BPF_PROG_TYPE_FLOW_DISSECTOR'],
  [23, 'BPF_PROG_TYPE_CGROUP_SYSCTL'],
  [24, 'BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE'],
  [25, 'BPF_PROG_TYPE_CGROUP_SOCKOPT'],
  [26, 'BPF_PROG_TYPE_TRACING'],
  [27, 'BPF_PROG_TYPE_STRUCT_OPS'],
  [28, 'BPF_PROG_TYPE_EXT'],
  [29, 'BPF_PROG_TYPE_LSM'],
  [30, 'BPF_PROG_TYPE_SK_LOOKUP'],
  [31, 'BPF_PROG_TYPE_SYSCALL'],
  [32, 'BPF_PROG_TYPE_NETFILTER'],
]);

/**
 * The program type named `name`: the kernel name (`'BPF_PROG_TYPE_SOCKET_FILTER'`), the name without the prefix in
 * any case (`'socket_filter'`), or the enum key (`'SocketFilter'`).
 */
export function progTypeFromName(name: string): ProgType | undefined {
  return enumFromName(NAMES, 'BPF_PROG_TYPE_', name) as ProgType | undefined;
}

/** The kernel name of a program type (`'BPF_PROG_TYPE_SOCKET_FILTER'`), or `undefined` for a number the kernel does not define. */
export function progTypeName(value: number): string | undefined {
  return NAMES.get(value);
}

import { enumFromName } from './names.js';

/**
 * The kernel's `enum bpf_attach_type` (`include/uapi/linux/bpf.h`), with the kernel's numbering: values
 * pass straight through to bpf(). Names are the kernel names without `BPF_`, in CamelCase.
 */
export enum AttachType {
  /** `BPF_CGROUP_INET_INGRESS` */
  CgroupInetIngress = 0,
  /** `BPF_CGROUP_INET_EGRESS` */
  CgroupInetEgress = 1,
  /** `BPF_CGROUP_INET_SOCK_CREATE` */
  CgroupInetSockCreate = 2,
  /** `BPF_CGROUP_SOCK_OPS` */
  CgroupSockOps = 3,
  /** `BPF_SK_SKB_STREAM_PARSER` */
  SkSkbStreamParser = 4,
  /** `BPF_SK_SKB_STREAM_VERDICT` */
  SkSkbStreamVerdict = 5,
  /** `BPF_CGROUP_DEVICE` */
  CgroupDevice = 6,
  /** `BPF_SK_MSG_VERDICT` */
  SkMsgVerdict = 7,
  /** `BPF_CGROUP_INET4_BIND` */
  CgroupInet4Bind = 8,
  /** `BPF_CGROUP_INET6_BIND` */
  CgroupInet6Bind = 9,
  /** `BPF_CGROUP_INET4_CONNECT` */
  CgroupInet4Connect = 10,
  /** `BPF_CGROUP_INET6_CONNECT` */
  CgroupInet6Connect = 11,
  /** `BPF_CGROUP_INET4_POST_BIND` */
  CgroupInet4PostBind = 12,
  /** `BPF_CGROUP_INET6_POST_BIND` */
  CgroupInet6PostBind = 13,
  /** `BPF_CGROUP_UDP4_SENDMSG` */
  CgroupUdp4Sendmsg = 14,
  /** `BPF_CGROUP_UDP6_SENDMSG` */
  CgroupUdp6Sendmsg = 15,
  /** `BPF_LIRC_MODE2` */
  LircMode2 = 16,
  /** `BPF_FLOW_DISSECTOR` */
  FlowDissector = 17,
  /** `BPF_CGROUP_SYSCTL` */
  CgroupSysctl = 18,
  /** `BPF_CGROUP_UDP4_RECVMSG` */
  CgroupUdp4Recvmsg = 19,
  /** `BPF_CGROUP_UDP6_RECVMSG` */
  CgroupUdp6Recvmsg = 20,
  /** `BPF_CGROUP_GETSOCKOPT` */
  CgroupGetsockopt = 21,
  /** `BPF_CGROUP_SETSOCKOPT` */
  CgroupSetsockopt = 22,
  /** `BPF_TRACE_RAW_TP` */
  TraceRawTp = 23,
  /** `BPF_TRACE_FENTRY` */
  TraceFentry = 24,
  /** `BPF_TRACE_FEXIT` */
  TraceFexit = 25,
  /** `BPF_MODIFY_RETURN` */
  ModifyReturn = 26,
  /** `BPF_LSM_MAC` */
  LsmMac = 27,
  /** `BPF_TRACE_ITER` */
  TraceIter = 28,
  /** `BPF_CGROUP_INET4_GETPEERNAME` */
  CgroupInet4Getpeername = 29,
  /** `BPF_CGROUP_INET6_GETPEERNAME` */
  CgroupInet6Getpeername = 30,
  /** `BPF_CGROUP_INET4_GETSOCKNAME` */
  CgroupInet4Getsockname = 31,
  /** `BPF_CGROUP_INET6_GETSOCKNAME` */
  CgroupInet6Getsockname = 32,
  /** `BPF_XDP_DEVMAP` */
  XdpDevmap = 33,
  /** `BPF_CGROUP_INET_SOCK_RELEASE` */
  CgroupInetSockRelease = 34,
  /** `BPF_XDP_CPUMAP` */
  XdpCpumap = 35,
  /** `BPF_SK_LOOKUP` */
  SkLookup = 36,
  /** `BPF_XDP` */
  Xdp = 37,
  /** `BPF_SK_SKB_VERDICT` */
  SkSkbVerdict = 38,
  /** `BPF_SK_REUSEPORT_SELECT` */
  SkReuseportSelect = 39,
  /** `BPF_SK_REUSEPORT_SELECT_OR_MIGRATE` */
  SkReuseportSelectOrMigrate = 40,
  /** `BPF_PERF_EVENT` */
  PerfEvent = 41,
  /** `BPF_TRACE_KPROBE_MULTI` */
  TraceKprobeMulti = 42,
  /** `BPF_LSM_CGROUP` */
  LsmCgroup = 43,
  /** `BPF_STRUCT_OPS` */
  StructOps = 44,
  /** `BPF_NETFILTER` */
  Netfilter = 45,
  /** `BPF_TCX_INGRESS` */
  TcxIngress = 46,
  /** `BPF_TCX_EGRESS` */
  TcxEgress = 47,
  /** `BPF_TRACE_UPROBE_MULTI` */
  TraceUprobeMulti = 48,
  /** `BPF_CGROUP_UNIX_CONNECT` */
  CgroupUnixConnect = 49,
  /** `BPF_CGROUP_UNIX_SENDMSG` */
  CgroupUnixSendmsg = 50,
  /** `BPF_CGROUP_UNIX_RECVMSG` */
  CgroupUnixRecvmsg = 51,
  /** `BPF_CGROUP_UNIX_GETPEERNAME` */
  CgroupUnixGetpeername = 52,
  /** `BPF_CGROUP_UNIX_GETSOCKNAME` */
  CgroupUnixGetsockname = 53,
  /** `BPF_NETKIT_PRIMARY` */
  NetkitPrimary = 54,
  /** `BPF_NETKIT_PEER` */
  NetkitPeer = 55,
  /** `BPF_TRACE_KPROBE_SESSION` */
  TraceKprobeSession = 56,
  /** `BPF_TRACE_UPROBE_SESSION` */
  TraceUprobeSession = 57,
}

const NAMES = new Map<number, string>([
  [0, 'BPF_CGROUP_INET_INGRESS'],
  [1, 'BPF_CGROUP_INET_EGRESS'],
  [2, 'BPF_CGROUP_INET_SOCK_CREATE'],
  [3, 'BPF_CGROUP_SOCK_OPS'],
  [4, 'BPF_SK_SKB_STREAM_PARSER'],
  [5, 'BPF_SK_SKB_STREAM_VERDICT'],
  [6, 'BPF_CGROUP_DEVICE'],
  [7, 'BPF_SK_MSG_VERDICT'],
  [8, 'BPF_CGROUP_INET4_BIND'],
  [9, 'BPF_CGROUP_INET6_BIND'],
  [10, 'BPF_CGROUP_INET4_CONNECT'],
  [11, 'BPF_CGROUP_INET6_CONNECT'],
  [12, 'BPF_CGROUP_INET4_POST_BIND'],
  [13, 'BPF_CGROUP_INET6_POST_BIND'],
  [14, 'BPF_CGROUP_UDP4_SENDMSG'],
  [15, 'BPF_CGROUP_UDP6_SENDMSG'],
  [16, 'BPF_LIRC_MODE2'],
  [17, 'BPF_FLOW_DISSECTOR'],
  [18, 'BPF_CGROUP_SYSCTL'],
  [19, 'BPF_CGROUP_UDP4_RECVMSG'],
  [20, 'BPF_CGROUP_UDP6_RECVMSG'],
  [21, 'BPF_CGROUP_GETSOCKOPT'],
  [22, 'BPF_CGROUP_SETSOCKOPT'],
  [23, 'BPF_TRACE_RAW_TP'],
  [24, 'BPF_TRACE_FENTRY'],
  [25, 'BPF_TRACE_FEXIT'],
  [26, 'BPF_MODIFY_RETURN'],
  [27, 'BPF_LSM_MAC'],
  [28, 'BPF_TRACE_ITER'],
  [29, 'BPF_CGROUP_INET4_GETPEERNAME'],
  [30, 'BPF_CGROUP_INET6_GETPEERNAME'],
  [31, 'BPF_CGROUP_INET4_GETSOCKNAME'],
  [32, 'BPF_CGROUP_INET6_GETSOCKNAME'],
  [33, 'BPF_XDP_DEVMAP'],
  [34, 'BPF_CGROUP_INET_SOCK_RELEASE'],
  [35, 'BPF_XDP_CPUMAP'],
  [36, 'BPF_SK_LOOKUP'],
  [37, 'BPF_XDP'],
  [38, 'BPF_SK_SKB_VERDICT'],
  [39, 'BPF_SK_REUSEPORT_SELECT'],
  [40, 'BPF_SK_REUSEPORT_SELECT_OR_MIGRATE'],
  [41, 'BPF_PERF_EVENT'],
  [42, 'BPF_TRACE_KPROBE_MULTI'],
  [43, 'BPF_LSM_CGROUP'],
  [44, 'BPF_STRUCT_OPS'],
  [45, 'BPF_NETFILTER'],
  [46, 'BPF_TCX_INGRESS'],
  [47, 'BPF_TCX_EGRESS'],
  [48, 'BPF_TRACE_UPROBE_MULTI'],
  [49, 'BPF_CGROUP_UNIX_CONNECT'],
  [50, 'BPF_CGROUP_UNIX_SENDMSG'],
  [51, 'BPF_CGROUP_UNIX_RECVMSG'],
  [52, 'BPF_CGROUP_UNIX_GETPEERNAME'],
  [53, 'BPF_CGROUP_UNIX_GETSOCKNAME'],
  [54, 'BPF_NETKIT_PRIMARY'],
  [55, 'BPF_NETKIT_PEER'],
  [56, 'BPF_TRACE_KPROBE_SESSION'],
  [57, 'BPF_TRACE_UPROBE_SESSION'],
]);

/**
 * The attach type named `name`: the kernel name (`'BPF_CGROUP_INET_EGRESS'`), the name without the prefix in
 * any case (`'cgroup_inet_egress'`), or the enum key (`'CgroupInetEgress'`).
 */
export function attachTypeFromName(name: string): AttachType | undefined {
  return enumFromName(NAMES, 'BPF_', name) as AttachType | undefined;
}

/** The kernel name of a attach type (`'BPF_CGROUP_INET_EGRESS'`), or `undefined` for a number the kernel does not define. */
export function attachTypeName(value: number): string | undefined {
  return NAMES.get(value);
}

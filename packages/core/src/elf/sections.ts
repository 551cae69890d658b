import { AttachType } from '../uapi/attach-types.js';
import { ProgType } from '../uapi/prog-types.js';

/** What a program's ELF section name says, as libbpf's section table reads it. */
export interface SectionProgType {
  progType: ProgType;
  expectedAttachType?: AttachType;
  /** What follows the prefix: `tcp_v4_connect` of `kprobe/tcp_v4_connect`, `syscalls/sys_enter_openat` of a tracepoint. */
  target?: string;
  /** The section name's prefix as libbpf lists it (`kprobe`, `tracepoint`, `xdp`, ...). */
  prefix: string;
  /**
   * `BPF_PROG_LOAD` flags the section implies, as libbpf sets them: `BPF_F_SLEEPABLE` (16) for
   * `syscall` and the `.s` sections (`fentry.s/`, `lsm.s/`, `uprobe.s/`, ...), `BPF_F_XDP_HAS_FRAGS`
   * (32) for `xdp.frags`.
   */
  flags?: number;
}

const BPF_F_SLEEPABLE = 16;
const BPF_F_XDP_HAS_FRAGS = 32;

function sectionFlags(prefix: string): number | undefined {
  if (prefix === 'syscall' || /\.s(\/|$)/.test(prefix)) return BPF_F_SLEEPABLE;
  if (prefix.startsWith('xdp.frags')) return BPF_F_XDP_HAS_FRAGS;
  return undefined;
}

/**
 * libbpf's section definitions (`section_defs[]` in libbpf.c), the common ones: `name` matches the
 * whole section name; `name+` also matches `name/<target>`.
 */
const DEFS: [string, ProgType, AttachType?][] = [
  ['socket', ProgType.SocketFilter],
  ['sk_reuseport/migrate', ProgType.SkReuseport, AttachType.SkReuseportSelectOrMigrate],
  ['sk_reuseport', ProgType.SkReuseport, AttachType.SkReuseportSelect],
  ['kprobe+', ProgType.Kprobe],
  ['uprobe+', ProgType.Kprobe],
  ['uprobe.s+', ProgType.Kprobe],
  ['kretprobe+', ProgType.Kprobe],
  ['uretprobe+', ProgType.Kprobe],
  ['uretprobe.s+', ProgType.Kprobe],
  ['kprobe.multi+', ProgType.Kprobe, AttachType.TraceKprobeMulti],
  ['kretprobe.multi+', ProgType.Kprobe, AttachType.TraceKprobeMulti],
  ['ksyscall+', ProgType.Kprobe],
  ['kretsyscall+', ProgType.Kprobe],
  ['usdt+', ProgType.Kprobe],
  ['tc/ingress', ProgType.SchedCls, AttachType.TcxIngress],
  ['tc/egress', ProgType.SchedCls, AttachType.TcxEgress],
  ['tcx/ingress', ProgType.SchedCls, AttachType.TcxIngress],
  ['tcx/egress', ProgType.SchedCls, AttachType.TcxEgress],
  ['tc', ProgType.SchedCls],
  ['classifier', ProgType.SchedCls],
  ['action', ProgType.SchedAct],
  ['tracepoint+', ProgType.Tracepoint],
  ['tp+', ProgType.Tracepoint],
  ['raw_tracepoint+', ProgType.RawTracepoint],
  ['raw_tp+', ProgType.RawTracepoint],
  ['raw_tracepoint.w+', ProgType.RawTracepointWritable],
  ['raw_tp.w+', ProgType.RawTracepointWritable],
  ['tp_btf+', ProgType.Tracing, AttachType.TraceRawTp],
  ['fentry+', ProgType.Tracing, AttachType.TraceFentry],
  ['fmod_ret+', ProgType.Tracing, AttachType.ModifyReturn],
  ['fexit+', ProgType.Tracing, AttachType.TraceFexit],
  ['fentry.s+', ProgType.Tracing, AttachType.TraceFentry],
  ['fmod_ret.s+', ProgType.Tracing, AttachType.ModifyReturn],
  ['fexit.s+', ProgType.Tracing, AttachType.TraceFexit],
  ['freplace+', ProgType.Ext],
  ['lsm+', ProgType.Lsm, AttachType.LsmMac],
  ['lsm.s+', ProgType.Lsm, AttachType.LsmMac],
  ['lsm_cgroup+', ProgType.Lsm, AttachType.LsmCgroup],
  ['iter+', ProgType.Tracing, AttachType.TraceIter],
  ['iter.s+', ProgType.Tracing, AttachType.TraceIter],
  ['syscall', ProgType.Syscall],
  ['xdp.frags/devmap', ProgType.Xdp, AttachType.XdpDevmap],
  ['xdp/devmap', ProgType.Xdp, AttachType.XdpDevmap],
  ['xdp.frags/cpumap', ProgType.Xdp, AttachType.XdpCpumap],
  ['xdp/cpumap', ProgType.Xdp, AttachType.XdpCpumap],
  ['xdp.frags', ProgType.Xdp, AttachType.Xdp],
  ['xdp', ProgType.Xdp, AttachType.Xdp],
  ['perf_event', ProgType.PerfEvent],
  ['lwt_in', ProgType.LwtIn],
  ['lwt_out', ProgType.LwtOut],
  ['lwt_xmit', ProgType.LwtXmit],
  ['lwt_seg6local', ProgType.LwtSeg6local],
  ['sockops', ProgType.SockOps, AttachType.CgroupSockOps],
  ['sk_skb/stream_parser', ProgType.SkSkb, AttachType.SkSkbStreamParser],
  ['sk_skb/stream_verdict', ProgType.SkSkb, AttachType.SkSkbStreamVerdict],
  ['sk_skb/verdict', ProgType.SkSkb, AttachType.SkSkbVerdict],
  ['sk_skb', ProgType.SkSkb],
  ['sk_msg', ProgType.SkMsg, AttachType.SkMsgVerdict],
  ['lirc_mode2', ProgType.LircMode2, AttachType.LircMode2],
  ['flow_dissector', ProgType.FlowDissector, AttachType.FlowDissector],
  ['cgroup_skb/ingress', ProgType.CgroupSkb, AttachType.CgroupInetIngress],
  ['cgroup_skb/egress', ProgType.CgroupSkb, AttachType.CgroupInetEgress],
  ['cgroup/skb', ProgType.CgroupSkb],
  ['cgroup/sock_create', ProgType.CgroupSock, AttachType.CgroupInetSockCreate],
  ['cgroup/sock_release', ProgType.CgroupSock, AttachType.CgroupInetSockRelease],
  ['cgroup/sock', ProgType.CgroupSock, AttachType.CgroupInetSockCreate],
  ['cgroup/post_bind4', ProgType.CgroupSock, AttachType.CgroupInet4PostBind],
  ['cgroup/post_bind6', ProgType.CgroupSock, AttachType.CgroupInet6PostBind],
  ['cgroup/bind4', ProgType.CgroupSockAddr, AttachType.CgroupInet4Bind],
  ['cgroup/bind6', ProgType.CgroupSockAddr, AttachType.CgroupInet6Bind],
  ['cgroup/connect4', ProgType.CgroupSockAddr, AttachType.CgroupInet4Connect],
  ['cgroup/connect6', ProgType.CgroupSockAddr, AttachType.CgroupInet6Connect],
  ['cgroup/connect_unix', ProgType.CgroupSockAddr, AttachType.CgroupUnixConnect],
  ['cgroup/sendmsg4', ProgType.CgroupSockAddr, AttachType.CgroupUdp4Sendmsg],
  ['cgroup/sendmsg6', ProgType.CgroupSockAddr, AttachType.CgroupUdp6Sendmsg],
  ['cgroup/sendmsg_unix', ProgType.CgroupSockAddr, AttachType.CgroupUnixSendmsg],
  ['cgroup/recvmsg4', ProgType.CgroupSockAddr, AttachType.CgroupUdp4Recvmsg],
  ['cgroup/recvmsg6', ProgType.CgroupSockAddr, AttachType.CgroupUdp6Recvmsg],
  ['cgroup/recvmsg_unix', ProgType.CgroupSockAddr, AttachType.CgroupUnixRecvmsg],
  ['cgroup/getpeername4', ProgType.CgroupSockAddr, AttachType.CgroupInet4Getpeername],
  ['cgroup/getpeername6', ProgType.CgroupSockAddr, AttachType.CgroupInet6Getpeername],
  ['cgroup/getpeername_unix', ProgType.CgroupSockAddr, AttachType.CgroupUnixGetpeername],
  ['cgroup/getsockname4', ProgType.CgroupSockAddr, AttachType.CgroupInet4Getsockname],
  ['cgroup/getsockname6', ProgType.CgroupSockAddr, AttachType.CgroupInet6Getsockname],
  ['cgroup/getsockname_unix', ProgType.CgroupSockAddr, AttachType.CgroupUnixGetsockname],
  ['cgroup/sysctl', ProgType.CgroupSysctl, AttachType.CgroupSysctl],
  ['cgroup/getsockopt', ProgType.CgroupSockopt, AttachType.CgroupGetsockopt],
  ['cgroup/setsockopt', ProgType.CgroupSockopt, AttachType.CgroupSetsockopt],
  ['cgroup/dev', ProgType.CgroupDevice, AttachType.CgroupDevice],
  ['struct_ops+', ProgType.StructOps],
  ['struct_ops.s+', ProgType.StructOps],
  ['sk_lookup', ProgType.SkLookup, AttachType.SkLookup],
  ['netfilter', ProgType.Netfilter, AttachType.Netfilter],
];

/**
 * The program type, expected attach type and attach target a section name gives, as libbpf
 * matches it (`SEC("xdp")`, `SEC("kprobe/tcp_v4_connect")`, `SEC("tracepoint/syscalls/sys_enter_openat")`),
 * or `undefined` for a name libbpf does not know.
 */
export function progTypeOfSection(section: string): SectionProgType | undefined {
  for (const [def, progType, expectedAttachType] of DEFS) {
    const open = def.endsWith('+');
    const prefix = open ? def.slice(0, -1) : def;
    const flags = sectionFlags(prefix);
    if (section === prefix) return { progType, expectedAttachType, prefix, ...(flags ? { flags } : {}) };
    if (open && section.startsWith(`${prefix}/`)) {
      return { progType, expectedAttachType, prefix, target: section.slice(prefix.length + 1), ...(flags ? { flags } : {}) };
    }
  }
  return undefined;
}

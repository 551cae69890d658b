import { describe, expect, it } from 'vitest';
import { AttachType, BtfKind, ProgType, VerifierError, lddw, make, type Insn } from '@tsbpf/core';
import { loadProgram, probe, tpBtfId, vmlinuxBtf } from '@tsbpf/kernel';
import { retvalMessage, retvalRange, type RetvalOptions, type RetvalRange } from './retval.js';

const P = ProgType, A = AttachType;
const r = (min: number, max: number) => ({ min: BigInt(min), max: BigInt(max) });

// ---- table ----------------------------------------------------------------------------------

/** [progType, attachType, expected range (undefined: anything), options] */
type Row = [number, number | undefined, { min: bigint; max: bigint } | undefined, RetvalOptions?];

const ROWS: Row[] = [
  [P.SocketFilter, undefined, undefined],
  [P.SchedCls, undefined, undefined],
  [P.Xdp, undefined, undefined],
  [P.Xdp, A.XdpDevmap, undefined],
  [P.Kprobe, undefined, undefined],
  [P.Kprobe, A.TraceKprobeMulti, undefined],
  [P.Kprobe, A.TraceKprobeSession, r(0, 1)],
  [P.Kprobe, A.TraceUprobeSession, r(0, 1)],
  [P.Tracepoint, undefined, undefined],
  [P.PerfEvent, undefined, undefined],
  [P.RawTracepoint, undefined, undefined],
  [P.RawTracepoint, undefined, r(0, 0), { attachBtfId: true }],
  [P.CgroupSkb, A.CgroupInetIngress, r(0, 1)],
  [P.CgroupSkb, undefined, r(0, 1)],
  [P.CgroupSkb, A.CgroupInetEgress, r(0, 3)],
  [P.CgroupSock, undefined, r(0, 1)],
  [P.CgroupSock, A.CgroupInet6PostBind, r(0, 1)],
  [P.SockOps, A.CgroupSockOps, r(0, 1)],
  [P.CgroupDevice, A.CgroupDevice, r(0, 1)],
  [P.CgroupSysctl, A.CgroupSysctl, r(0, 1)],
  [P.CgroupSockopt, A.CgroupGetsockopt, r(0, 1)],
  [P.CgroupSockAddr, A.CgroupInet4Connect, r(0, 1)],
  [P.CgroupSockAddr, A.CgroupUnixSendmsg, r(0, 1)],
  [P.CgroupSockAddr, A.CgroupInet4Bind, r(0, 3)],
  [P.CgroupSockAddr, A.CgroupInet6Bind, r(0, 3)],
  [P.CgroupSockAddr, A.CgroupUdp6Recvmsg, r(1, 1)],
  [P.CgroupSockAddr, A.CgroupUnixGetpeername, r(1, 1)],
  [P.CgroupSockAddr, A.CgroupInet4Getsockname, r(1, 1)],
  [P.SkLookup, A.SkLookup, r(0, 1)],
  [P.Netfilter, A.Netfilter, r(0, 1)],
  [P.Tracing, A.TraceFentry, r(0, 0)],
  [P.Tracing, A.TraceFexit, r(0, 0)],
  [P.Tracing, A.TraceRawTp, undefined],
  [P.Tracing, A.ModifyReturn, undefined],
  [P.Tracing, A.TraceIter, r(0, 1)],
  [P.Lsm, A.LsmMac, r(-4095, 0)],
  [P.Lsm, A.LsmMac, r(0, 1), { attachReturns: 'bool' }],
  [P.Lsm, A.LsmMac, undefined, { attachReturns: 'void' }],
  [P.Lsm, A.LsmCgroup, r(0, 1)],
  [P.Lsm, A.LsmCgroup, r(1, 1), { attachReturns: 'void' }],
  [P.StructOps, undefined, undefined],
  [P.StructOps, undefined, r(0, 0), { attachReturns: 'ptr' }],
  [P.SkSkb, A.SkSkbStreamVerdict, undefined],
  [P.SkMsg, A.SkMsgVerdict, undefined],
  [P.SkReuseport, undefined, undefined],
  [P.FlowDissector, A.FlowDissector, undefined],
  [P.LwtXmit, undefined, undefined],
  [P.Syscall, undefined, undefined],
  [P.Ext, undefined, undefined],
];

describe('retvalRange: per program and attach type', () => {
  it.each(ROWS.map((row) => [`${row[0]}/${row[1] ?? '-'} ${JSON.stringify(row[3] ?? {})}`, row] as const))('%s', (_n, [prog, attach, want, opts]) => {
    const got = retvalRange(prog, attach, opts);
    expect(got && { min: got.min, max: got.max }).toEqual(want);
  });

  it('marks LSM hooks as 32-bit and cgroup_skb egress as enforcing its attach type', () => {
    expect(retvalRange(P.Lsm, A.LsmMac)?.return32).toBe(true);
    expect(retvalRange(P.CgroupSkb, A.CgroupInetEgress)?.enforceAttachType).toEqual(r(2, 3));
  });

  it('formats the kernel message', () => {
    expect(retvalMessage(0n, 0n, r(1, 1))).toBe('At program exit the register R0 has smin=0 smax=0 should have been in [1, 1]');
    expect(retvalMessage(-(1n << 63n), (1n << 63n) - 1n, r(0, 1))).toBe('At program exit the register R0 has unknown scalar value should have been in [0, 1]');
    expect(retvalMessage(-(1n << 63n), 5n, r(0, 1))).toBe('At program exit the register R0 has smax=5 should have been in [0, 1]');
  });
});

// ---- differential: the running kernel -------------------------------------------------------

const kernel = probe();
if (!kernel.ok) console.log(`return value differential test skipped: ${kernel.reason}`);

interface Config { name: string; progType: number; attach?: number; flags?: number; btf?: () => number }

const CONFIGS: Config[] = [
  { name: 'socket_filter', progType: P.SocketFilter },
  { name: 'kprobe', progType: P.Kprobe },
  { name: 'kprobe/multi', progType: P.Kprobe, attach: A.TraceKprobeMulti },
  { name: 'kprobe/session', progType: P.Kprobe, attach: A.TraceKprobeSession },
  { name: 'kprobe/uprobe_session', progType: P.Kprobe, attach: A.TraceUprobeSession },
  { name: 'kprobe/uprobe_multi', progType: P.Kprobe, attach: A.TraceUprobeMulti },
  { name: 'sched_cls', progType: P.SchedCls },
  { name: 'sched_act', progType: P.SchedAct },
  { name: 'tracepoint', progType: P.Tracepoint },
  { name: 'xdp', progType: P.Xdp },
  { name: 'xdp/devmap', progType: P.Xdp, attach: A.XdpDevmap },
  { name: 'perf_event', progType: P.PerfEvent },
  { name: 'cgroup_skb/ingress', progType: P.CgroupSkb, attach: A.CgroupInetIngress },
  { name: 'cgroup_skb/egress', progType: P.CgroupSkb, attach: A.CgroupInetEgress },
  ...[A.CgroupInetSockCreate, A.CgroupInetSockRelease, A.CgroupInet4PostBind, A.CgroupInet6PostBind]
    .map((a) => ({ name: `cgroup_sock/${AttachType[a]}`, progType: P.CgroupSock, attach: a })),
  { name: 'lwt_in', progType: P.LwtIn },
  { name: 'lwt_out', progType: P.LwtOut },
  { name: 'lwt_xmit', progType: P.LwtXmit },
  { name: 'lwt_seg6local', progType: P.LwtSeg6local },
  { name: 'sock_ops', progType: P.SockOps, attach: A.CgroupSockOps },
  { name: 'sk_skb', progType: P.SkSkb, attach: A.SkSkbStreamVerdict },
  { name: 'cgroup_device', progType: P.CgroupDevice, attach: A.CgroupDevice },
  { name: 'sk_msg', progType: P.SkMsg, attach: A.SkMsgVerdict },
  { name: 'raw_tracepoint', progType: P.RawTracepoint },
  { name: 'raw_tracepoint_writable', progType: P.RawTracepointWritable },
  ...[
    A.CgroupInet4Bind, A.CgroupInet6Bind, A.CgroupInet4Connect, A.CgroupInet6Connect, A.CgroupUnixConnect,
    A.CgroupInet4Getpeername, A.CgroupInet6Getpeername, A.CgroupUnixGetpeername, A.CgroupInet4Getsockname,
    A.CgroupInet6Getsockname, A.CgroupUnixGetsockname, A.CgroupUdp4Sendmsg, A.CgroupUdp6Sendmsg, A.CgroupUnixSendmsg,
    A.CgroupUdp4Recvmsg, A.CgroupUdp6Recvmsg, A.CgroupUnixRecvmsg,
  ].map((a) => ({ name: `cgroup_sock_addr/${AttachType[a]}`, progType: P.CgroupSockAddr, attach: a })),
  { name: 'lirc_mode2', progType: P.LircMode2, attach: A.LircMode2 },
  { name: 'sk_reuseport/select', progType: P.SkReuseport, attach: A.SkReuseportSelect },
  { name: 'sk_reuseport/migrate', progType: P.SkReuseport, attach: A.SkReuseportSelectOrMigrate },
  { name: 'flow_dissector', progType: P.FlowDissector, attach: A.FlowDissector },
  { name: 'cgroup_sysctl', progType: P.CgroupSysctl, attach: A.CgroupSysctl },
  { name: 'cgroup_sockopt/get', progType: P.CgroupSockopt, attach: A.CgroupGetsockopt },
  { name: 'cgroup_sockopt/set', progType: P.CgroupSockopt, attach: A.CgroupSetsockopt },
  { name: 'tp_btf', progType: P.Tracing, attach: A.TraceRawTp, btf: () => tpBtfId('sched_process_exec') },
  { name: 'iter/task', progType: P.Tracing, attach: A.TraceIter, btf: () => vmlinuxBtf().find('bpf_iter_task', BtfKind.Func)!.id },
  { name: 'fentry', progType: P.Tracing, attach: A.TraceFentry, btf: () => vmlinuxBtf().find('security_file_open', BtfKind.Func)!.id },
  { name: 'lsm', progType: P.Lsm, attach: A.LsmMac, btf: () => vmlinuxBtf().find('bpf_lsm_file_open', BtfKind.Func)!.id },
  { name: 'sk_lookup', progType: P.SkLookup, attach: A.SkLookup },
  { name: 'syscall', progType: P.Syscall, flags: 1 << 4 /* BPF_F_SLEEPABLE */ },
  { name: 'netfilter', progType: P.Netfilter, attach: A.Netfilter },
];

const S64_MIN = -(1n << 63n), S64_MAX = (1n << 63n) - 1n;
const EXIT = make.exit();

/** R0 at exit: a constant, an unknown 64-bit value, an unknown u32 (uninitialized stack, which a privileged loader may read), or the context pointer. */
const VALUES: { name: string; insns: Insn[]; smin?: bigint; smax?: bigint; pointer?: string }[] = [
  ...[-1, 0, 1, 2, 3, 4].map((v) => ({ name: String(v), insns: [make.alu('mov', true, 0, undefined, v), EXIT], smin: BigInt(v), smax: BigInt(v) })),
  { name: '0xffffffff', insns: [lddw(0, 0xffffffffn), EXIT], smin: 0xffffffffn, smax: 0xffffffffn },
  { name: 'unknown', insns: [make.ldx(8, 0, 10, -8), EXIT], smin: S64_MIN, smax: S64_MAX },
  { name: 'unknown u32', insns: [make.ldx(4, 0, 10, -8), EXIT], smin: 0n, smax: 0xffffffffn },
  { name: 'ctx pointer', insns: [make.alu('mov', true, 0, 1), EXIT], pointer: 'ctx' },
];

/** The kernel's last line (without the statistics), or undefined when it accepts. */
function kernelLine(c: Config, insns: Insn[], attachBtfId: number | undefined): { ok: boolean; line?: string; other?: string } {
  try {
    loadProgram({ progType: c.progType, expectedAttachType: c.attach, insns, flags: c.flags }, { logSize: 1 << 16, attachBtfId }).close();
    return { ok: true };
  } catch (e) {
    if (e instanceof VerifierError) {
      const lines = e.log.split('\n').filter((l) => l && !/^processed \d+ insns|^verification time|^stack depth/.test(l));
      return { ok: false, line: lines[lines.length - 1] };
    }
    return { ok: false, other: (e as Error).message };
  }
}

/** What we expect for one value under `range`. */
function expected(range: RetvalRange | undefined, v: (typeof VALUES)[number]): { ok: boolean; line?: string } {
  if (!range) return { ok: true };
  if (v.pointer) return { ok: false, line: `At program exit the register R0 is not a known value (${v.pointer})` };
  if (v.smin! >= range.min && v.smax! <= range.max) return { ok: true };
  return { ok: false, line: retvalMessage(v.smin!, v.smax!, range) };
}

describe.skipIf(!kernel.ok)('retvalRange against the running kernel', () => {
  const totals = { configs: 0, loads: 0, skipped: [] as string[] };
  for (const c of CONFIGS) {
    it(c.name, () => {
      const attachBtfId = c.btf?.();
      const range = retvalRange(c.progType, c.attach);
      // A type this kernel cannot load (lirc_mode2 unconfigured, fentry/LSM without trampolines) is skipped, loudly.
      const ok = VALUES.map((v) => kernelLine(c, v.insns, attachBtfId));
      if (ok.every((k) => k.other !== undefined)) {
        console.log(`${c.name}: not loadable on this kernel (${ok[0].other}); skipped`);
        totals.skipped.push(c.name);
        return;
      }
      const diffs: string[] = [];
      VALUES.forEach((v, i) => {
        const want = expected(range, v);
        const got = ok[i];
        if (want.ok !== got.ok || (!want.ok && want.line !== got.line)) {
          diffs.push(`${v.name}: ours ${want.ok ? 'accept' : want.line}, kernel ${got.ok ? 'accept' : got.other ?? got.line}`);
        }
      });
      totals.configs++;
      totals.loads += VALUES.length;
      console.log(`${c.name}: [${range ? `${range.min}, ${range.max}` : 'any'}] ${VALUES.length} loads, ${diffs.length} differences (running: ${totals.configs} configs, ${totals.loads} loads)`);
      expect(diffs).toEqual([]);
    });
  }
});

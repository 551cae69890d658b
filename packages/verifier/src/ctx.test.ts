import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttachType, BtfKind, ProgType, VerifierError, ctxLayout, make, type AccessSize, type Insn } from '@tsbpf/core';
import { loadProgram, probe, tpBtfId, vmlinuxBtf } from '@tsbpf/kernel';
import { ctxAccess, ctxFuncProtoFromBtf, ctxSize, type CtxAccessOptions, type CtxAccessResult, type CtxFuncProto } from './ctx.js';
import { retvalRange } from './retval.js';

// ---- UAPI layouts ---------------------------------------------------------------------------
// Offsets and sizes hard-coded from Linux 6.18 include/uapi/linux/bpf.h and
// include/uapi/linux/bpf_perf_event.h for x86-64 (`__bpf_md_ptr` fields are 8 bytes and 8-aligned,
// `struct pt_regs` is 21 u64 = 168 bytes). They are checked below against the running kernel's
// BTF (which describes these UAPI structs) and against the host's <linux/bpf.h> compiled by gcc.

type Layout = { size: number; fields: Record<string, readonly [number, number]> };
const u32s = (names: string, start: number) => Object.fromEntries(names.split(' ').map((n, i) => [n, [start + 4 * i, 4] as const]));

const LAYOUTS: Record<string, Layout> = {
  __sk_buff: {
    size: 192,
    fields: {
      ...u32s('len pkt_type mark queue_mapping protocol vlan_present vlan_tci vlan_proto priority ingress_ifindex ifindex tc_index', 0),
      cb: [48, 20], ...u32s('hash tc_classid data data_end napi_id family remote_ip4 local_ip4', 68),
      remote_ip6: [100, 16], local_ip6: [116, 16], remote_port: [132, 4], local_port: [136, 4], data_meta: [140, 4],
      flow_keys: [144, 8], tstamp: [152, 8], wire_len: [160, 4], gso_segs: [164, 4], sk: [168, 8], gso_size: [176, 4],
      tstamp_type: [180, 1], hwtstamp: [184, 8],
    },
  },
  xdp_md: { size: 24, fields: u32s('data data_end data_meta ingress_ifindex rx_queue_index egress_ifindex', 0) },
  bpf_sock: {
    size: 80,
    fields: {
      ...u32s('bound_dev_if family type protocol mark priority src_ip4', 0), src_ip6: [28, 16], src_port: [44, 4],
      dst_port: [48, 2], dst_ip4: [52, 4], dst_ip6: [56, 16], state: [72, 4], rx_queue_mapping: [76, 4],
    },
  },
  bpf_sock_addr: {
    size: 72,
    fields: {
      user_family: [0, 4], user_ip4: [4, 4], user_ip6: [8, 16], ...u32s('user_port family type protocol msg_src_ip4', 24),
      msg_src_ip6: [44, 16], sk: [64, 8],
    },
  },
  bpf_sock_ops: {
    size: 224,
    fields: {
      op: [0, 4], reply: [4, 4], args: [4, 16], family: [20, 4], remote_ip4: [24, 4], local_ip4: [28, 4], remote_ip6: [32, 16],
      local_ip6: [48, 16],
      ...u32s('remote_port local_port is_fullsock snd_cwnd srtt_us bpf_sock_ops_cb_flags state rtt_min snd_ssthresh rcv_nxt snd_nxt snd_una mss_cache ecn_flags rate_delivered rate_interval_us packets_out retrans_out total_retrans segs_in data_segs_in segs_out data_segs_out lost_out sacked_out sk_txhash', 64),
      bytes_received: [168, 8], bytes_acked: [176, 8], sk: [184, 8], skb_data: [192, 8], skb_data_end: [200, 8],
      skb_len: [208, 4], skb_tcp_flags: [212, 4], skb_hwtstamp: [216, 8],
    },
  },
  sk_msg_md: {
    size: 80,
    fields: {
      data: [0, 8], data_end: [8, 8], family: [16, 4], remote_ip4: [20, 4], local_ip4: [24, 4], remote_ip6: [28, 16],
      local_ip6: [44, 16], remote_port: [60, 4], local_port: [64, 4], size: [68, 4], sk: [72, 8],
    },
  },
  sk_reuseport_md: {
    size: 56,
    fields: { data: [0, 8], data_end: [8, 8], ...u32s('len eth_protocol ip_protocol bind_inany hash', 16), sk: [40, 8], migrating_sk: [48, 8] },
  },
  bpf_sk_lookup: {
    size: 72,
    fields: {
      sk: [0, 8], cookie: [0, 8], family: [8, 4], protocol: [12, 4], remote_ip4: [16, 4], remote_ip6: [20, 16], remote_port: [36, 2],
      local_ip4: [40, 4], local_ip6: [44, 16], local_port: [60, 4], ingress_ifindex: [64, 4],
    },
  },
  bpf_sockopt: { size: 40, fields: { sk: [0, 8], optval: [8, 8], optval_end: [16, 8], ...u32s('level optname optlen retval', 24) } },
  bpf_sysctl: { size: 8, fields: u32s('write file_pos', 0) },
  bpf_cgroup_dev_ctx: { size: 12, fields: u32s('access_type major minor', 0) },
  bpf_perf_event_data: { size: 184, fields: { regs: [0, 168], sample_period: [168, 8], addr: [176, 8] } },
  bpf_nf_ctx: { size: 16, fields: { state: [0, 8], skb: [8, 8] } },
};

/** Offset of `struct.field` (`'__sk_buff.cb'`), plus an optional `+n`. */
function at(ref: string): number {
  const [path, plus] = ref.split('+');
  const [s, f] = path.split('.');
  const field = LAYOUTS[s]?.fields[f];
  if (!field) throw new Error(`no field ${path}`);
  return field[0] + Number(plus ?? 0);
}

describe('UAPI context layouts', () => {
  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('match the running kernel\'s BTF (every struct, every field)', () => {
    const btf = vmlinuxBtf();
    for (const [name, layout] of Object.entries(LAYOUTS)) {
      const t = btf.find(name, BtfKind.Struct);
      expect(t, name).toBeDefined();
      expect(t!.size, `sizeof(struct ${name})`).toBe(layout.size);
      for (const [field, [off, size]] of Object.entries(layout.fields)) {
        const m = btf.memberOffset(name, field);
        expect(m, `${name}.${field}`).toBeDefined();
        expect([m!.offset, m!.size], `${name}.${field}`).toEqual([off, size]);
      }
    }
  });

  // The host's <linux/bpf.h> may be older than the kernel: a struct whose fields it lacks does not
  // compile and is skipped (with its name printed).
  const gcc = (() => { try { execFileSync('gcc', ['--version'], { stdio: 'pipe' }); return true; } catch { return false; } })();
  it.skipIf(!gcc)('match the host <linux/bpf.h> compiled by gcc, where it has the fields', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-ctx-'));
    const skipped: string[] = [];
    let checked = 0;
    try {
      for (const [name, layout] of Object.entries(LAYOUTS)) {
        if (name === 'bpf_nf_ctx' || name === 'bpf_perf_event_data') continue; // not in <linux/bpf.h>
        const lines = [`printf("size %zu\\n", sizeof(struct ${name}));`];
        for (const f of Object.keys(layout.fields)) lines.push(`printf("${f} %zu %zu\\n", offsetof(struct ${name}, ${f}), sizeof(((struct ${name} *)0)->${f}));`);
        const src = join(dir, `${name}.c`);
        writeFileSync(src, `#include <stdio.h>\n#include <stddef.h>\n#include <linux/bpf.h>\nint main(void) {\n${lines.join('\n')}\nreturn 0; }\n`);
        try {
          execFileSync('gcc', ['-o', join(dir, name), src], { stdio: 'pipe' });
        } catch {
          skipped.push(name);
          continue;
        }
        const out = execFileSync(join(dir, name), { encoding: 'utf8' }).trim().split('\n');
        expect(out[0], name).toBe(`size ${layout.size}`);
        for (const line of out.slice(1)) {
          const [f, off, size] = line.split(' ');
          expect([Number(off), Number(size)], `${name}.${f}`).toEqual([...layout.fields[f]]);
          checked++;
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (skipped.length) console.log(`host <linux/bpf.h> lacks fields of: ${skipped.join(', ')} (checked against kernel BTF only)`);
    expect(checked).toBeGreaterThan(100);
  });
});

// ---- table ----------------------------------------------------------------------------------

const P = ProgType, A = AttachType;
type Expect = false | string;
/** [progType, attachType, offset (number or 'struct.field+n'), size, kind, expected value or false, options] */
type Row = [number, number | undefined, number | string, number, 'read' | 'write' | 'read_sx', Expect, CtxAccessOptions?];

const ROWS: Row[] = [
  // socket filter: no packet pointers, no socket fields, only cb[] writable
  [P.SocketFilter, undefined, '__sk_buff.len', 4, 'read', 'scalar'],
  [P.SocketFilter, undefined, '__sk_buff.len+2', 2, 'read', 'scalar'],
  [P.SocketFilter, undefined, '__sk_buff.len+1', 2, 'read', false],
  [P.SocketFilter, undefined, '__sk_buff.len', 8, 'read', false],
  [P.SocketFilter, undefined, '__sk_buff.data', 4, 'read', false],
  [P.SocketFilter, undefined, '__sk_buff.family', 4, 'read', false],
  [P.SocketFilter, undefined, '__sk_buff.mark', 4, 'write', false],
  [P.SocketFilter, undefined, '__sk_buff.cb+4', 4, 'write', 'scalar'],
  [P.SocketFilter, undefined, '__sk_buff.cb', 8, 'write', 'scalar'],
  [P.SocketFilter, undefined, '__sk_buff.cb+16', 8, 'read', false], // cb[4..5] runs past cb
  [P.SocketFilter, undefined, '__sk_buff.cb+1', 1, 'write', 'scalar'],
  [P.SocketFilter, undefined, '__sk_buff.sk', 8, 'read', 'sock_common_or_null'],
  [P.SocketFilter, undefined, '__sk_buff.sk', 4, 'read', false],
  [P.SocketFilter, undefined, '__sk_buff.flow_keys', 8, 'read', false],
  [P.SocketFilter, undefined, -4, 4, 'read', false],
  [P.SocketFilter, undefined, 192, 4, 'read', false],
  // tc: everything but socket fields; data_meta; tstamp_type as one byte
  [P.SchedCls, undefined, '__sk_buff.data', 4, 'read', 'pkt'],
  [P.SchedCls, undefined, '__sk_buff.data', 4, 'read_sx', false],
  [P.SchedCls, undefined, '__sk_buff.data', 8, 'read', false],
  [P.SchedCls, undefined, '__sk_buff.data_meta', 4, 'read', 'pkt_meta'],
  [P.SchedAct, undefined, '__sk_buff.data_end', 4, 'read', 'pkt_end'],
  [P.SchedCls, undefined, '__sk_buff.mark', 4, 'write', 'scalar'],
  [P.SchedCls, undefined, '__sk_buff.mark', 2, 'write', false],
  [P.SchedCls, undefined, '__sk_buff.tc_classid', 4, 'write', 'scalar'],
  [P.SchedCls, undefined, '__sk_buff.queue_mapping', 4, 'write', 'scalar'],
  [P.SchedCls, undefined, '__sk_buff.len', 4, 'write', false],
  [P.SchedCls, undefined, '__sk_buff.tstamp', 8, 'write', 'scalar'],
  [P.SchedCls, undefined, '__sk_buff.tstamp', 4, 'read', false],
  [P.SchedCls, undefined, '__sk_buff.tstamp_type', 1, 'read', 'scalar'],
  [P.SchedCls, undefined, '__sk_buff.tstamp_type', 4, 'read', false],
  [P.SchedCls, undefined, '__sk_buff.tstamp_type', 1, 'write', false],
  [P.SchedCls, undefined, '__sk_buff.tstamp_type+1', 1, 'read', false],
  [P.SchedCls, undefined, '__sk_buff.hwtstamp', 8, 'read', 'scalar'],
  [P.SchedCls, undefined, '__sk_buff.hwtstamp', 8, 'write', false],
  [P.SchedCls, undefined, '__sk_buff.local_port', 4, 'read', false],
  [P.SchedCls, undefined, '__sk_buff.remote_ip4', 4, 'read', false],
  [P.SchedCls, undefined, '__sk_buff.wire_len', 4, 'read', 'scalar'],
  // cgroup_skb: packet (with CAP_BPF), mark/priority/cb/tstamp writable
  [P.CgroupSkb, A.CgroupInetIngress, '__sk_buff.data', 4, 'read', 'pkt'],
  [P.CgroupSkb, A.CgroupInetIngress, '__sk_buff.data', 4, 'read', false, { capBpf: false }],
  [P.CgroupSkb, A.CgroupInetEgress, '__sk_buff.data_meta', 4, 'read', false],
  [P.CgroupSkb, A.CgroupInetEgress, '__sk_buff.remote_ip6+4', 4, 'read', 'scalar'],
  [P.CgroupSkb, A.CgroupInetEgress, '__sk_buff.remote_ip6+4', 2, 'read', false],
  [P.CgroupSkb, A.CgroupInetEgress, '__sk_buff.remote_port', 2, 'read', 'scalar'],
  [P.CgroupSkb, A.CgroupInetEgress, '__sk_buff.priority', 4, 'write', 'scalar'],
  [P.CgroupSkb, A.CgroupInetEgress, '__sk_buff.tstamp', 8, 'write', 'scalar'],
  [P.CgroupSkb, A.CgroupInetEgress, '__sk_buff.tstamp', 8, 'write', false, { capBpf: false }],
  [P.CgroupSkb, A.CgroupInetEgress, '__sk_buff.tc_index', 4, 'write', false],
  // lwt: no socket fields, no tstamp
  [P.LwtIn, undefined, '__sk_buff.data', 4, 'read', 'pkt'],
  [P.LwtXmit, undefined, '__sk_buff.tstamp', 8, 'read', false],
  [P.LwtOut, undefined, '__sk_buff.family', 4, 'read', false],
  [P.LwtSeg6local, undefined, '__sk_buff.cb', 4, 'write', 'scalar'],
  // sk_skb: no mark at all, tc_index/priority writable
  [P.SkSkb, undefined, '__sk_buff.mark', 4, 'read', false],
  [P.SkSkb, undefined, '__sk_buff.tc_index', 4, 'write', 'scalar'],
  [P.SkSkb, undefined, '__sk_buff.family', 4, 'read', 'scalar'],
  [P.SkSkb, undefined, '__sk_buff.data_end', 4, 'read', 'pkt_end'],
  // flow dissector: data, data_end, flow_keys only
  [P.FlowDissector, A.FlowDissector, '__sk_buff.flow_keys', 8, 'read', 'flow_keys'],
  [P.FlowDissector, A.FlowDissector, '__sk_buff.data', 4, 'read', 'pkt'],
  [P.FlowDissector, A.FlowDissector, '__sk_buff.len', 4, 'read', false],
  // xdp
  [P.Xdp, undefined, 'xdp_md.data', 4, 'read', 'pkt'],
  [P.Xdp, undefined, 'xdp_md.data_meta', 4, 'read', 'pkt_meta'],
  [P.Xdp, undefined, 'xdp_md.data', 2, 'read', false],
  [P.Xdp, undefined, 'xdp_md.egress_ifindex', 4, 'read', false],
  [P.Xdp, A.XdpDevmap, 'xdp_md.egress_ifindex', 4, 'read', 'scalar'],
  [P.Xdp, undefined, 'xdp_md.rx_queue_index', 4, 'write', false],
  [P.Xdp, undefined, 'xdp_md.rx_queue_index', 4, 'write', 'scalar', { offloaded: true }],
  [P.Xdp, undefined, 'xdp_md.ingress_ifindex', 4, 'read_sx', 'scalar'],
  // cgroup_sock: fields by attach type
  [P.CgroupSock, undefined, 'bpf_sock.mark', 4, 'write', 'scalar'], // unset attach type = sock_create
  [P.CgroupSock, A.CgroupInet4PostBind, 'bpf_sock.mark', 4, 'read', false],
  [P.CgroupSock, A.CgroupInet4PostBind, 'bpf_sock.src_ip4', 1, 'read', 'scalar'],
  [P.CgroupSock, A.CgroupInet4PostBind, 'bpf_sock.src_ip6', 4, 'read', false],
  [P.CgroupSock, A.CgroupInet6PostBind, 'bpf_sock.src_ip6+12', 2, 'read', 'scalar'],
  [P.CgroupSock, A.CgroupInet6PostBind, 'bpf_sock.src_port', 4, 'read', 'scalar'],
  [P.CgroupSock, A.CgroupInet6PostBind, 'bpf_sock.src_port', 4, 'write', false],
  [P.CgroupSock, A.CgroupInetSockRelease, 'bpf_sock.family', 4, 'read', 'scalar'],
  [P.CgroupSock, A.CgroupInetSockRelease, 'bpf_sock.family', 4, 'write', false],
  [P.CgroupSock, A.CgroupInetSockRelease, 'bpf_sock.family+2', 2, 'read', false],
  [P.CgroupSock, A.CgroupInetSockRelease, 'bpf_sock.dst_port', 4, 'read', 'scalar'],
  [P.CgroupSock, A.CgroupInetSockRelease, 'bpf_sock.dst_port+1', 1, 'read', 'scalar'],
  [P.CgroupSock, A.CgroupInetSockRelease, 'bpf_sock.dst_port+2', 2, 'read', false],
  [P.CgroupSock, A.CgroupInetSockRelease, 'bpf_sock.rx_queue_mapping', 4, 'read', 'scalar'],
  // cgroup_sock_addr: address fields by family and hook, 8-byte access to the ip6 arrays
  [P.CgroupSockAddr, A.CgroupInet4Connect, 'bpf_sock_addr.user_ip4', 4, 'write', 'scalar'],
  [P.CgroupSockAddr, A.CgroupInet4Connect, 'bpf_sock_addr.user_ip4+2', 2, 'read', 'scalar'],
  [P.CgroupSockAddr, A.CgroupInet4Connect, 'bpf_sock_addr.user_ip4+2', 2, 'write', false],
  [P.CgroupSockAddr, A.CgroupInet4Connect, 'bpf_sock_addr.user_ip6', 4, 'read', false],
  [P.CgroupSockAddr, A.CgroupInet6Connect, 'bpf_sock_addr.user_ip6', 8, 'read', 'scalar'],
  [P.CgroupSockAddr, A.CgroupInet6Connect, 'bpf_sock_addr.user_ip6+8', 8, 'write', 'scalar'],
  [P.CgroupSockAddr, A.CgroupInet6Connect, 'bpf_sock_addr.user_ip6+16', 8, 'read', false],
  [P.CgroupSockAddr, A.CgroupUdp6Sendmsg, 'bpf_sock_addr.msg_src_ip6+4', 8, 'read', 'scalar'],
  [P.CgroupSockAddr, A.CgroupUdp6Recvmsg, 'bpf_sock_addr.msg_src_ip6+4', 4, 'read', false],
  [P.CgroupSockAddr, A.CgroupUdp4Sendmsg, 'bpf_sock_addr.msg_src_ip4', 4, 'write', 'scalar'],
  [P.CgroupSockAddr, A.CgroupUnixConnect, 'bpf_sock_addr.user_ip4', 4, 'read', false],
  [P.CgroupSockAddr, A.CgroupUnixConnect, 'bpf_sock_addr.user_port', 2, 'read', 'scalar'],
  [P.CgroupSockAddr, A.CgroupUnixConnect, 'bpf_sock_addr.user_family', 4, 'read', 'scalar'],
  [P.CgroupSockAddr, A.CgroupUnixConnect, 'bpf_sock_addr.user_family', 4, 'write', false],
  [P.CgroupSockAddr, A.CgroupUnixConnect, 'bpf_sock_addr.protocol', 2, 'read', false],
  [P.CgroupSockAddr, A.CgroupInet4Bind, 'bpf_sock_addr.sk', 8, 'read', 'sock'],
  [P.CgroupSockAddr, A.CgroupInet4Bind, 60, 4, 'read', false],
  // sock_ops
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.reply', 4, 'write', 'scalar'],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.args+4', 4, 'write', false],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.sk_txhash', 4, 'write', 'scalar'],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.op', 2, 'read', false],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.skb_tcp_flags', 1, 'read', 'scalar'],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.bytes_acked', 8, 'read', 'scalar'],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.sk', 8, 'read', 'sock_or_null'],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.skb_data', 8, 'read', 'pkt'],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.skb_data_end', 8, 'read', 'pkt_end'],
  [P.SockOps, A.CgroupSockOps, 'bpf_sock_ops.skb_hwtstamp', 8, 'read', 'scalar'],
  // sk_msg
  [P.SkMsg, A.SkMsgVerdict, 'sk_msg_md.data', 8, 'read', 'pkt'],
  [P.SkMsg, A.SkMsgVerdict, 'sk_msg_md.sk', 8, 'read', 'sock'],
  [P.SkMsg, A.SkMsgVerdict, 'sk_msg_md.size', 4, 'read', 'scalar'],
  [P.SkMsg, A.SkMsgVerdict, 'sk_msg_md.local_port', 2, 'read', false],
  [P.SkMsg, A.SkMsgVerdict, 'sk_msg_md.size', 4, 'write', false],
  // sk_reuseport
  [P.SkReuseport, undefined, 'sk_reuseport_md.migrating_sk', 8, 'read', 'sock_common_or_null'],
  [P.SkReuseport, undefined, 'sk_reuseport_md.eth_protocol', 1, 'read', false],
  [P.SkReuseport, undefined, 'sk_reuseport_md.eth_protocol+2', 2, 'read', 'scalar'],
  [P.SkReuseport, undefined, 'sk_reuseport_md.ip_protocol+3', 1, 'read', 'scalar'],
  [P.SkReuseport, undefined, 'sk_reuseport_md.hash', 2, 'read', false],
  // sk_lookup
  [P.SkLookup, A.SkLookup, 'bpf_sk_lookup.sk', 8, 'read', 'sock_or_null'],
  [P.SkLookup, A.SkLookup, 'bpf_sk_lookup.remote_port', 4, 'read', 'scalar'],
  [P.SkLookup, A.SkLookup, 'bpf_sk_lookup.remote_port+1', 1, 'read', 'scalar'],
  [P.SkLookup, A.SkLookup, 'bpf_sk_lookup.remote_port+2', 2, 'read', 'scalar'],
  [P.SkLookup, A.SkLookup, 'bpf_sk_lookup.local_ip6+6', 2, 'read', 'scalar'],
  [P.SkLookup, A.SkLookup, 68, 4, 'read', false],
  // sockopt
  [P.CgroupSockopt, A.CgroupGetsockopt, 'bpf_sockopt.retval', 4, 'write', 'scalar'],
  [P.CgroupSockopt, A.CgroupSetsockopt, 'bpf_sockopt.retval', 4, 'read', false],
  [P.CgroupSockopt, A.CgroupSetsockopt, 'bpf_sockopt.optname', 4, 'write', 'scalar'],
  [P.CgroupSockopt, A.CgroupGetsockopt, 'bpf_sockopt.level', 4, 'write', false],
  [P.CgroupSockopt, A.CgroupGetsockopt, 'bpf_sockopt.optlen', 4, 'write', 'scalar'],
  [P.CgroupSockopt, A.CgroupGetsockopt, 'bpf_sockopt.optval', 8, 'read', 'pkt'],
  [P.CgroupSockopt, A.CgroupGetsockopt, 'bpf_sockopt.optval_end', 8, 'read', 'pkt_end'],
  [P.CgroupSockopt, A.CgroupGetsockopt, 'bpf_sockopt.sk', 8, 'read', 'sock'],
  // sysctl, device
  [P.CgroupSysctl, A.CgroupSysctl, 'bpf_sysctl.write', 1, 'read', 'scalar'],
  [P.CgroupSysctl, A.CgroupSysctl, 'bpf_sysctl.write', 4, 'write', false],
  [P.CgroupSysctl, A.CgroupSysctl, 'bpf_sysctl.file_pos', 4, 'write', 'scalar'],
  [P.CgroupSysctl, A.CgroupSysctl, 'bpf_sysctl.file_pos', 2, 'write', false],
  [P.CgroupSysctl, A.CgroupSysctl, 'bpf_sysctl.file_pos', 8, 'read', false],
  [P.CgroupDevice, A.CgroupDevice, 'bpf_cgroup_dev_ctx.access_type+2', 2, 'read', 'scalar'],
  [P.CgroupDevice, A.CgroupDevice, 'bpf_cgroup_dev_ctx.major', 2, 'read', false],
  // tracing contexts
  [P.Kprobe, undefined, 160, 8, 'read', 'scalar'],
  [P.Kprobe, undefined, 164, 4, 'read', 'scalar'],
  [P.Kprobe, undefined, 164, 8, 'read', false],
  [P.Kprobe, undefined, 168, 1, 'read', false],
  [P.Kprobe, undefined, 8, 8, 'write', false],
  [P.Kprobe, undefined, 8, 8, 'write', 'scalar', { kprobeWriteCtx: true }],
  [P.Tracepoint, undefined, 0, 8, 'read', false],
  [P.Tracepoint, undefined, -8, 8, 'read', 'scalar'], // the kernel compares off < sizeof(void *) unsigned
  [P.Tracepoint, undefined, -6, 4, 'read', false],
  [P.Tracepoint, undefined, 8, 8, 'read', 'scalar'],
  [P.Tracepoint, undefined, 8191, 1, 'read', 'scalar'],
  [P.Tracepoint, undefined, 8192, 1, 'read', false],
  [P.Tracepoint, undefined, 16, 4, 'write', false],
  [P.RawTracepoint, undefined, 88, 8, 'read', 'scalar'],
  [P.RawTracepoint, undefined, 92, 4, 'read', 'scalar'],
  [P.RawTracepoint, undefined, 96, 1, 'read', false],
  [P.RawTracepointWritable, undefined, 0, 8, 'read', 'tp_buffer'],
  [P.RawTracepointWritable, undefined, 0, 4, 'read', false],
  [P.RawTracepointWritable, undefined, 8, 4, 'read', 'scalar'],
  [P.PerfEvent, undefined, 'bpf_perf_event_data.sample_period+4', 4, 'read', 'scalar'],
  [P.PerfEvent, undefined, 'bpf_perf_event_data.addr+1', 1, 'read', 'scalar'],
  [P.PerfEvent, undefined, 8, 4, 'read', false],
  [P.PerfEvent, undefined, 8, 8, 'write', false],
  [P.Syscall, undefined, 0, 8, 'write', 'scalar'],
  [P.Syscall, undefined, 65528, 4, 'read', 'scalar'],
  [P.Syscall, undefined, 65535, 1, 'read', false],
  [P.Netfilter, A.Netfilter, 'bpf_nf_ctx.skb', 8, 'read', 'btf_id'],
  [P.Netfilter, A.Netfilter, 'bpf_nf_ctx.state', 4, 'read', false],
  [P.LircMode2, A.LircMode2, 0, 4, 'read', 'scalar'],
  [P.LircMode2, A.LircMode2, 0, 4, 'write', false],
  [P.Tracing, A.TraceFentry, 8, 8, 'read', 'scalar'],
  [P.Tracing, A.TraceFentry, 12, 4, 'read', false],
  [P.Unspec, undefined, 0, 4, 'read', false],
];

const label = (r: Row) => `${r[0]}/${r[1] ?? '-'} off=${r[2]} size=${r[3]} ${r[4]} -> ${r[5]}`;

describe('ctxAccess: per program type', () => {
  it.each(ROWS.map((r) => [label(r), r] as const))('%s', (_name, [prog, attach, where, size, kind, want, opts]) => {
    const off = typeof where === 'number' ? where : at(where);
    const res = ctxAccess(prog, attach, off, size, kind === 'read_sx' ? 'read' : kind, { ...opts, signExtend: kind === 'read_sx' });
    if (want === false) expect(res).toMatchObject({ ok: false, message: `invalid bpf_context access off=${off} size=${size}` });
    else expect(res).toMatchObject({ ok: true, value: kind === 'write' ? 'scalar' : want });
  });

  it('refuses atomics on the context as the kernel does, before looking at the field', () => {
    expect(ctxAccess(P.SchedCls, undefined, at('__sk_buff.mark'), 4, 'atomic', { reg: 6 }))
      .toEqual({ ok: false, message: 'BPF_ATOMIC stores into R6 ctx is not allowed' });
  });

  it('gives the context sizes', () => {
    expect([P.SocketFilter, P.Xdp, P.CgroupSock, P.CgroupSockAddr, P.SockOps, P.SkMsg, P.SkReuseport, P.SkLookup, P.CgroupSockopt, P.CgroupSysctl, P.CgroupDevice, P.PerfEvent, P.Netfilter].map(ctxSize))
      .toEqual([192, 24, 80, 72, 224, 80, 56, 72, 40, 8, 12, 184, 16]);
    expect([P.Kprobe, P.Tracepoint, P.RawTracepoint, P.Tracing, P.Syscall, P.Unspec, P.Ext].map(ctxSize)).toEqual([168, 8192, 96, 96, 65535, undefined, undefined]);
  });

  it('checks BTF-typed arguments against a prototype (tracing, LSM)', () => {
    const int = { kind: 'int', size: 4, name: 'int' };
    const proto: CtxFuncProto = {
      name: 'f',
      params: [
        { name: 'sk', type: { kind: 'ptr', size: 8, name: '', pointee: { kind: 'struct', id: 42, name: 'sock' } } },
        { name: 'len', type: int },
        { name: 'buf', type: { kind: 'ptr', size: 8, name: '', pointee: { kind: 'void', id: 0, name: '' } } },
        { name: 'x', type: { kind: 'FLOAT', size: 8, name: 'double' } },
      ],
      ret: int,
    };
    const fentry = (off: number, size: number) => ctxAccess(P.Tracing, A.TraceFentry, off, size, 'read', { proto });
    expect(fentry(0, 8)).toEqual({ ok: true, value: 'btf_id', btf: { id: 42, name: 'sock' }, log: ["func 'f' arg0 has btf_id 42 type STRUCT 'sock'"] });
    expect(fentry(0, 4)).toEqual({ ok: false, message: 'invalid bpf_context access off=0 size=4', log: ["func 'f' size 4 must be 8"] });
    expect(fentry(8, 4)).toEqual({ ok: true, value: 'scalar' });
    expect(fentry(16, 8)).toEqual({ ok: true, value: 'scalar' });
    expect(fentry(24, 8)).toMatchObject({ ok: false, log: ["func 'f' arg3 'double' has type FLOAT. Only pointer access is allowed"] });
    expect(fentry(32, 8)).toMatchObject({ ok: false, log: ["func 'f' doesn't have 5-th argument"] });
    expect(ctxAccess(P.Tracing, A.TraceFexit, 32, 8, 'read', { proto })).toEqual({ ok: true, value: 'scalar' });
    expect(ctxAccess(P.Lsm, A.LsmMac, 32, 8, 'read', { proto })).toEqual({ ok: true, value: 'scalar', retval: true });
    expect(ctxAccess(P.Tracing, A.ModifyReturn, 40, 8, 'read', { proto })).toMatchObject({ ok: false, log: ["func 'f' doesn't have 6-th argument"] });
    expect(fentry(4, 4)).toMatchObject({ ok: false, log: ["func 'f' offset 4 is not multiple of 8"] });
  });
});

// ---- differential: the running kernel -------------------------------------------------------

const kernel = probe();
if (!kernel.ok) console.log(`context access differential test skipped: ${kernel.reason}`);

interface Config {
  name: string;
  progType: number;
  attach?: number;
  flags?: number;
  /** Tracepoint name for tp_btf. */
  tpBtf?: string;
  /** Offsets to try (default: [-8, ctxSize + 16)). */
  offsets?: number[];
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const BPF_F_SLEEPABLE = 1 << 4;

const CONFIGS: Config[] = [
  { name: 'socket_filter', progType: P.SocketFilter },
  { name: 'kprobe', progType: P.Kprobe },
  { name: 'sched_cls', progType: P.SchedCls },
  { name: 'sched_act', progType: P.SchedAct },
  { name: 'tracepoint', progType: P.Tracepoint, offsets: [...range(-8, 80), ...range(8192 - 24, 8192 + 16)] },
  { name: 'xdp', progType: P.Xdp },
  { name: 'xdp/devmap', progType: P.Xdp, attach: A.XdpDevmap },
  { name: 'xdp/cpumap', progType: P.Xdp, attach: A.XdpCpumap },
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
  { name: 'sk_skb/parser', progType: P.SkSkb, attach: A.SkSkbStreamParser },
  { name: 'sk_skb/verdict', progType: P.SkSkb, attach: A.SkSkbStreamVerdict },
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
  // tp_btf: pointers to structs (task_struct, linux_binprm), ints, a bool, a by-value int after pointers
  { name: 'tp_btf/sched_process_exec', progType: P.Tracing, attach: A.TraceRawTp, tpBtf: 'sched_process_exec' },
  { name: 'tp_btf/sched_switch', progType: P.Tracing, attach: A.TraceRawTp, tpBtf: 'sched_switch' },
  { name: 'tp_btf/sys_enter', progType: P.Tracing, attach: A.TraceRawTp, tpBtf: 'sys_enter' },
  { name: 'sk_lookup', progType: P.SkLookup, attach: A.SkLookup },
  { name: 'syscall', progType: P.Syscall, flags: BPF_F_SLEEPABLE, offsets: [...range(-8, 80), ...range(32767 - 24, 32768)] },
  { name: 'netfilter', progType: P.Netfilter, attach: A.Netfilter },
];

/**
 * Differences between this table and the running kernel, with their reason. Keyed by config name;
 * each entry lists `kind off size` strings.
 */
const KNOWN_DIFFERENCES: Record<string, { reason: string; cases: string[] }> = {};

type Probe = { kind: 'read' | 'read_sx' | 'write' | 'write_imm'; off: number; size: AccessSize };

function program(p: Probe, r0: number): Insn[] {
  const tail = [make.alu('mov', true, 0, undefined, r0), make.exit()];
  switch (p.kind) {
    case 'read': return [make.ldx(p.size, 3, 1, p.off), ...tail];
    case 'read_sx': return [make.ldx(p.size, 3, 1, p.off, true), ...tail];
    case 'write': return [make.alu('mov', true, 2, undefined, 0), make.stx(p.size, 1, p.off, 2), ...tail];
    case 'write_imm': return [make.st(p.size, 1, p.off, 0), ...tail];
  }
}

/** The lines the kernel logged after the failing (or last) instruction, without the statistics. */
function tailLines(log: string): string[] {
  const lines = log.split('\n').filter((l) => l && !/^processed \d+ insns|^verification time|^stack depth|^mark_precise|^\s*$/.test(l));
  let last = -1;
  lines.forEach((l, i) => { if (/^\d+: \(/.test(l)) last = i; });
  return lines.slice(last + 1);
}

type Verdict = { ok: boolean; lines: string[]; other?: string };

function kernelVerdict(c: Config, insns: Insn[], attachBtfId: number | undefined): Verdict {
  try {
    // Level 1 keeps only the failing path: the lines a BTF context logs while accepting need level 2.
    const logLevel = attachBtfId === undefined ? undefined : 2;
    const prog = loadProgram({ progType: c.progType, expectedAttachType: c.attach, insns, flags: c.flags, logLevel }, { logSize: 1 << 16, attachBtfId });
    const log = prog.log;
    prog.close();
    return { ok: true, lines: log.split('\n').filter((l) => l.startsWith('func ')) };
  } catch (e) {
    if (e instanceof VerifierError) return { ok: false, lines: tailLines(e.log) };
    return { ok: false, lines: [], other: (e as Error).message };
  }
}

describe.skipIf(!kernel.ok)('ctxAccess against the running kernel: atomics', () => {
  it('refuses an atomic add into the context with the kernel\'s message, whatever the field', () => {
    for (const c of CONFIGS.filter((x) => ['socket_filter', 'sched_cls', 'xdp', 'syscall', 'cgroup_sysctl'].includes(x.name))) {
      for (const off of [0, 4, 8]) {
        const insns = [make.alu('mov', true, 2, undefined, 0), make.atomic(4, 'add', false, 1, off, 2), make.alu('mov', true, 0, undefined, 0), make.exit()];
        const theirs = kernelVerdict(c, insns, undefined);
        const ours = ctxAccess(c.progType, c.attach, off, 4, 'atomic');
        expect({ ok: theirs.ok, lines: theirs.lines }, `${c.name} off=${off}`).toEqual({ ok: false, lines: [ours.ok ? '' : ours.message] });
      }
    }
  });
});

describe.skipIf(!kernel.ok)('ctxAccess against the running kernel (every offset, size and direction)', () => {
  const totals = { loads: 0, accepted: 0, differences: 0 };
  for (const c of CONFIGS) {
    it(c.name, () => {
      const r0 = Number(retvalRange(c.progType, c.attach)?.min ?? 0n);
      const attachBtfId = c.tpBtf ? tpBtfId(c.tpBtf) : undefined;
      const proto = attachBtfId !== undefined ? ctxFuncProtoFromBtf(vmlinuxBtf(), attachBtfId) : undefined;
      // A type this kernel does not have (lirc_mode2 without CONFIG_BPF_LIRC_MODE2) is skipped, loudly.
      const base = kernelVerdict(c, [make.alu('mov', true, 0, undefined, r0), make.exit()], attachBtfId);
      if (!base.ok) {
        console.log(`${c.name}: not loadable on this kernel (${base.other ?? base.lines.join(' / ')}); skipped`);
        return;
      }
      const size = ctxSize(c.progType) ?? 96;
      const offsets = c.offsets ?? range(-8, size + 16);
      const known = new Set(KNOWN_DIFFERENCES[c.name]?.cases ?? []);
      const diffs: string[] = [];
      let loads = 0, accepted = 0;
      for (const off of offsets) {
        for (const kind of ['read', 'read_sx', 'write', 'write_imm'] as const) {
          for (const sz of [1, 2, 4, 8] as const) {
            if (kind === 'read_sx' && sz === 8) continue; // no 8-byte sign-extending load
            const ours: CtxAccessResult = ctxAccess(c.progType, c.attach, off, sz, kind.startsWith('write') ? 'write' : 'read', { signExtend: kind === 'read_sx', proto });
            const theirs = kernelVerdict(c, program({ kind, off, size: sz }, r0), attachBtfId);
            loads++;
            if (theirs.ok) accepted++;
            const key = `${kind} ${off} ${sz}`;
            const want = ours.ok ? [...(ours.log ?? [])] : [...(ours.log ?? []), ours.message];
            const same = ours.ok === theirs.ok && (theirs.other === undefined) && JSON.stringify(want) === JSON.stringify(theirs.lines);
            if (!same && !known.has(key)) {
              diffs.push(`${key}: ours ${ours.ok ? 'accept' : 'reject'} ${JSON.stringify(want)}, kernel ${theirs.ok ? 'accept' : 'reject'} ${JSON.stringify(theirs.other ?? theirs.lines)}`);
            }
          }
        }
      }
      totals.loads += loads; totals.accepted += accepted; totals.differences += diffs.length;
      console.log(`${c.name}: ${loads} loads, ${accepted} accepted, ${diffs.length} differences (running: ${totals.loads} loads, ${totals.differences} differences)`);
      expect(diffs.slice(0, 40)).toEqual([]);
    });
  }
});

// ---- the runtimes' layouts ------------------------------------------------------------------

/** What a load yields that must point at memory a test run provides, by the layout field that provides it. */
const POINTER_KINDS: Record<string, 'data' | 'dataEnd' | 'dataMeta' | 'target' | 'nullable'> = {
  pkt: 'data', pkt_end: 'dataEnd', pkt_meta: 'dataMeta', sock: 'target', flow_keys: 'target',
  sock_or_null: 'nullable', sock_common_or_null: 'nullable', tcp_sock_or_null: 'nullable',
};

// @tsbpf/core's ctxLayout is what the interpreter builds contexts from: its sizes must be the
// ones these rules bound, and every field whose load yields a pointer must be one it fills in
// (a test run that left one as random bytes would hand the program a wild pointer). Not modelled,
// and skipped: BTF pointers (`btf_id`: kernel objects) and the writable raw tracepoint buffer
// (`tp_buffer`: its size is the tracepoint's, checked at attach time).
describe('the runtime context layouts (@tsbpf/core ctxLayout) agree with these rules', () => {
  it.each(CONFIGS.filter((c) => !c.tpBtf && ctxLayout(c.progType)).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const layout = ctxLayout(c.progType)!;
    expect(layout.size).toBe(ctxSize(c.progType));
    const problems: string[] = [];
    for (let off = 0; off < Math.min(layout.size, 512); off += 4) {
      for (const size of [4, 8] as const) {
        const r = ctxAccess(c.progType, c.attach, off, size, 'read');
        const want = r.ok ? POINTER_KINDS[r.value] : undefined;
        if (!want) continue;
        const p = layout.pointers?.find((f) => f.off === off);
        const ok = want === 'target' ? p?.target !== undefined && !p.nullable
          : want === 'nullable' ? p?.nullable === true
            : layout.packet?.[want]?.off === off && layout.packet[want]!.size === size;
        if (!ok) problems.push(`off=${off} size=${size} reads as ${r.ok ? r.value : ''}, the layout says ${JSON.stringify(p ?? layout.packet)}`);
      }
    }
    if (layout.len !== undefined) expect(ctxAccess(c.progType, c.attach, layout.len, 4, 'read')).toMatchObject({ ok: true, value: 'scalar' });
    expect(problems).toEqual([]);
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AttachType, attachTypeFromName, attachTypeName } from './attach-types.js';
import { HELPERS, helperId, helperName } from './helper-ids.js';
import { MapType, mapTypeFromName, mapTypeName } from './map-types.js';
import { ProgType, progTypeFromName, progTypeName } from './prog-types.js';
import { ctxLayout } from './ctx-layout.js';

describe('kernel UAPI numbering', () => {
  it('has the values the kernel documents', () => {
    // Values from the kernel's include/uapi/linux/bpf.h, as bpftool and libbpf use them.
    expect([ProgType.SocketFilter, ProgType.Kprobe, ProgType.SchedCls, ProgType.Tracepoint, ProgType.Xdp, ProgType.PerfEvent, ProgType.CgroupSkb, ProgType.RawTracepoint, ProgType.Tracing, ProgType.Syscall, ProgType.Netfilter]).toEqual([1, 2, 3, 5, 6, 7, 8, 17, 26, 31, 32]);
    expect([MapType.Hash, MapType.Array, MapType.ProgArray, MapType.PerfEventArray, MapType.PercpuHash, MapType.PercpuArray, MapType.LruHash, MapType.LruPercpuHash, MapType.Ringbuf, MapType.Arena]).toEqual([1, 2, 3, 4, 5, 6, 9, 10, 27, 33]);
    expect([AttachType.CgroupInetIngress, AttachType.Xdp, AttachType.TraceFentry, AttachType.PerfEvent, AttachType.TraceKprobeMulti]).toEqual([0, 37, 24, 41, 42]);
    const ids = Object.fromEntries(HELPERS.map((h) => [h.name, h.id]));
    expect(ids).toMatchObject({
      bpf_map_lookup_elem: 1, bpf_map_update_elem: 2, bpf_map_delete_elem: 3, bpf_probe_read: 4,
      bpf_ktime_get_ns: 5, bpf_trace_printk: 6, bpf_get_prandom_u32: 7, bpf_get_smp_processor_id: 8,
      bpf_tail_call: 12, bpf_get_current_pid_tgid: 14, bpf_get_current_uid_gid: 15, bpf_get_current_comm: 16,
      bpf_perf_event_output: 25, bpf_skb_load_bytes: 26, bpf_get_stackid: 27, bpf_xdp_adjust_head: 44,
      bpf_probe_read_user: 112, bpf_probe_read_kernel: 113, bpf_probe_read_user_str: 114, bpf_probe_read_kernel_str: 115,
      bpf_ringbuf_output: 130, bpf_ringbuf_reserve: 131, bpf_ringbuf_submit: 132, bpf_ringbuf_discard: 133, bpf_ringbuf_query: 134,
      bpf_snprintf: 165, bpf_loop: 181, bpf_user_ringbuf_drain: 209, bpf_cgrp_storage_delete: 211,
    });
  });

  it('numbers helpers densely from 0 with unique names, and looks them up both ways', () => {
    HELPERS.forEach((h, i) => expect(h.id).toBe(i));
    expect(new Set(HELPERS.map((h) => h.name)).size).toBe(HELPERS.length);
    for (const name of ['bpf_map_lookup_elem', 'map_lookup_elem', 'BPF_FUNC_map_lookup_elem']) expect(helperId(name)).toBe(1);
    expect(helperName(181)).toBe('bpf_loop');
    expect(helperId('bpf_nope')).toBeUndefined();
    expect(helperName(9999)).toBeUndefined();
  });

  it('looks enum values up by kernel name, short name and key', () => {
    for (const n of ['BPF_PROG_TYPE_XDP', 'xdp', 'Xdp']) expect(progTypeFromName(n)).toBe(ProgType.Xdp);
    expect(progTypeFromName('sched_cls')).toBe(ProgType.SchedCls);
    expect(mapTypeFromName('BPF_MAP_TYPE_LRU_PERCPU_HASH')).toBe(MapType.LruPercpuHash);
    expect(mapTypeFromName('lru_hash')).toBe(MapType.LruHash);
    expect(attachTypeFromName('BPF_XDP')).toBe(AttachType.Xdp);
    expect(progTypeName(ProgType.Tracepoint)).toBe('BPF_PROG_TYPE_TRACEPOINT');
    expect(mapTypeName(MapType.Ringbuf)).toBe('BPF_MAP_TYPE_RINGBUF');
    expect(attachTypeName(AttachType.TraceFentry)).toBe('BPF_TRACE_FENTRY');
    expect(progTypeFromName('BPF_PROG_TYPE_NOPE')).toBeUndefined();
  });

  // The system's own UAPI header (linux-libc-dev) is an independent source for every value it has.
  const header = '/usr/include/linux/bpf.h';
  const hasHeader = existsSync(header);
  if (!hasHeader) console.log(`skipping the header cross-check: ${header} is not installed (apt-get install -y linux-libc-dev)`);
  it.runIf(hasHeader)('agrees with every value of /usr/include/linux/bpf.h', () => {
    const h = readFileSync(header, 'utf8');
    const enumValues = (name: string) => {
      const body = new RegExp(`enum ${name} \\{([\\s\\S]*?)\\n\\};`).exec(h)![1].replace(/\/\*[\s\S]*?\*\//g, '');
      const out: [string, number][] = [];
      let v = -1;
      for (const line of body.split('\n')) {
        const m = /^\s*([A-Z0-9_]+)\s*(?:=\s*(\d+))?\s*,?\s*$/.exec(line);
        if (!m || m[1].startsWith('__')) continue;
        v = m[2] !== undefined ? Number(m[2]) : v + 1;
        out.push([m[1], v]);
      }
      return out;
    };
    let checked = 0;
    for (const [name, v] of enumValues('bpf_prog_type')) { expect(progTypeName(v), name).toBe(name); checked++; }
    for (const [name, v] of enumValues('bpf_map_type')) { expect(mapTypeName(v), name).toBe(name); checked++; }
    for (const [name, v] of enumValues('bpf_attach_type')) { expect(attachTypeName(v), name).toBe(name); checked++; }
    const mapper = /#define __BPF_FUNC_MAPPER\(FN\)([\s\S]*?)\n\n/.exec(h)![1];
    const fns = [...mapper.matchAll(/FN\((\w+)/g)].map((m) => m[1]);
    fns.forEach((fn, id) => { expect(helperName(id), fn).toBe(`bpf_${fn}`); checked++; });
    expect(checked).toBeGreaterThan(300);
  });
});

describe('context layouts', () => {
  it('put the packet, its length and the pointer fields where the UAPI structs have them', () => {
    const tc = ctxLayout(ProgType.SchedCls)!;
    expect([tc.struct, tc.size, tc.packet, tc.len, tc.linkHeader]).toEqual([
      '__sk_buff', 192, { data: { off: 76, size: 4 }, dataEnd: { off: 80, size: 4 }, dataMeta: { off: 140, size: 4 } }, 0, undefined,
    ]);
    expect(tc.pointers!.map((p) => [p.name, p.off, p.target?.struct ?? null, p.nullable ?? false])).toEqual([['flow_keys', 144, null, true], ['sk', 168, 'bpf_sock', true]]);
    // the __sk_buff types other than tc's see the packet from the network header
    for (const t of [ProgType.SocketFilter, ProgType.CgroupSkb, ProgType.LwtIn, ProgType.LwtOut, ProgType.LwtXmit, ProgType.LwtSeg6local, ProgType.SkSkb]) {
      expect([ctxLayout(t)!.struct, ctxLayout(t)!.linkHeader]).toEqual(['__sk_buff', 14]);
    }
    expect(ctxLayout(ProgType.Xdp)).toMatchObject({ struct: 'xdp_md', size: 24, packet: { data: { off: 0 }, dataEnd: { off: 4 }, dataMeta: { off: 8 } } });
    expect(ctxLayout(ProgType.SkMsg)!.packet).toEqual({ data: { off: 0, size: 8 }, dataEnd: { off: 8, size: 8 } });
    expect(ctxLayout(ProgType.CgroupSockAddr)!.pointers).toEqual([{ name: 'sk', off: 64, size: 8, target: { struct: 'bpf_sock', size: 80 } }]);
    expect([ProgType.Kprobe, ProgType.PerfEvent, ProgType.Tracepoint, ProgType.RawTracepoint, ProgType.RawTracepointWritable, ProgType.Tracing].map((t) => ctxLayout(t)!.size))
      .toEqual([168, 184, 8192, 96, 96, 96]);
    expect([ProgType.Netfilter, ProgType.StructOps, ProgType.Ext, ProgType.Unspec].map(ctxLayout)).toEqual([undefined, undefined, undefined, undefined]);
  });
});

/**
 * The clang-built fixtures of packages/core/test/fixtures/elf, each opened, verified by our verifier,
 * run on interp and jit-wasm and, where bpf() works, on the kernel, against values worked out by
 * hand from the C sources (the comments of each case say how).
 */
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  Btf, BtfKind, openObject, loadObjectInto, resolveProgram,
  type Backend, type BackendMap, type BpfObject, type LoadedObject, type LoadObjectOptions, type LoadedMapInfo, type ProgramSpec,
} from '@tsbpf/core';
import { InterpBackend } from '@tsbpf/interp';
import { JitBackend } from '@tsbpf/jit-wasm';
import { KernelBackend, RingBufReader, probe, type KernelMap } from '@tsbpf/kernel';
import { objectVerifier } from '@tsbpf/verifier';
import { CliExit } from './io.js';
import { runObject } from './object-run.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'core', 'test', 'fixtures', 'elf');
const open = (name: string, order: 'el' | 'eb' = 'el') => openObject(new Uint8Array(readFileSync(join(fixtures, `${name}.bpf${order}.o`))));
const VMLINUX = '/sys/kernel/btf/vmlinux';
const vmlinux = existsSync(VMLINUX) ? Btf.parse(new Uint8Array(readFileSync(VMLINUX))) : undefined;
const kernel = probe();

// ---- bytes ----
const le32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};
const u64At = (b: Uint8Array, off = 0) => new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);
const s64At = (b: Uint8Array, off = 0) => new DataView(b.buffer, b.byteOffset).getBigInt64(off, true);
/** r0 as the kernel reports it (32 bits): user-space backends report all 64. */
const ret32 = (r: bigint) => Number(BigInt.asUintN(32, r));

/** `m[key]` as a u64, or undefined when absent. */
function u64(m: BackendMap, key: number): bigint | undefined {
  const v = m.lookup(le32(key));
  return v ? u64At(v) : undefined;
}
/** A per-CPU map's u64 value at `key` summed over every CPU (the syscall layout: 8 bytes per CPU). */
function perCpuSum(m: BackendMap, key: number): bigint | undefined {
  const v = m.lookup(le32(key));
  if (!v) return undefined;
  let sum = 0n;
  for (let off = 0; off + 8 <= v.length; off += 8) sum += u64At(v, off);
  return sum;
}
/** The u64 array map `m`'s first `n` values. */
const u64s = (m: BackendMap, n: number) => Array.from({ length: n }, (_, i) => u64(m, i));

/** Every record in a ring buffer map, on whichever backend made it. */
function ringRecords(m: BackendMap): Uint8Array[] {
  if ('consume' in m && typeof (m as { consume: unknown }).consume === 'function') return (m as unknown as { consume(): Uint8Array[] }).consume();
  const reader = new RingBufReader(m as KernelMap);
  try {
    return reader.consume();
  } finally {
    reader.close();
  }
}

/** The bytes of global variable `name` as they are now in its data map. */
function global(obj: BpfObject, l: LoadedObject, name: string, size: number): Uint8Array {
  const sym = obj.elf.symbols.find((s) => s.name === name && s.shndx > 0);
  if (!sym) throw new Error(`no symbol ${name}`);
  const value = l.map(obj.elf.sections[sym.shndx].name).lookup(new Uint8Array(4))!;
  return value.subarray(sym.value, sym.value + size);
}

// ---- loading ----
/** Our verifier as the loader's `verify` hook (func_info, line_info, map flags and frozen constants, as the kernel gets them). */
const ourVerifier = objectVerifier;

type BackendName = 'interp' | 'jit-wasm' | 'kernel';

/** What a case's scenario sees. */
interface Env {
  name: BackendName;
  backend: Backend;
  obj: BpfObject;
  loaded: LoadedObject;
}

/** One fixture scenario: load (some of) the object, run it, observe; the same on every backend. */
interface Case {
  fixture: string;
  /** What it covers, for the test name. */
  covers: string;
  /** Built big-endian too: the two objects must open to the same programs and maps. */
  bothOrders?: boolean;
  /** CO-RE: needs the kernel's BTF as target. */
  core?: boolean;
  /** Programs the user-space runtime cannot load (helpers it lacks): loaded only on the kernel, verified by ours everywhere. */
  kernelOnly?: string[];
  /** Programs that cannot run on the kernel here (kprobes): loaded there, not run. */
  loadOnlyOnKernel?: boolean;
  /** Changes the opened object before it loads (as a skeleton sets .rodata). */
  prepare?(obj: BpfObject): void;
  /** Runs the scenario and returns what it observed. */
  run(env: Env): unknown;
  /** What `run` must observe, worked out from the C source. */
  expected(env: Env): unknown;
}

/** Packet headers for the parser (network byte order). */
const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const eth = (proto: number) => [...Array(12).fill(0xaa), ...be16(proto)];
const ipv4 = (proto: number, ihl = 5) => Array.from({ length: ihl * 4 }, (_, i) => (i === 0 ? 0x40 | ihl : i === 9 ? proto : i === 8 ? 64 : 0));
const ipv6 = (next: number) => Array.from({ length: 40 }, (_, i) => (i === 0 ? 0x60 : i === 6 ? next : i === 7 ? 64 : 0));
const udp = (dport: number) => [...be16(40000), ...be16(dport), 0, 8, 0, 0];
const tcp = (dport: number) => [...be16(40000), ...be16(dport), ...Array(16).fill(0)];
const pkt = (...parts: number[][]) => Uint8Array.from(parts.flat());
const ETH_P_IP = 0x0800, ETH_P_IPV6 = 0x86dd, ETH_P_ARP = 0x0806;
const parserPackets = [
  pkt(eth(ETH_P_IP), ipv4(17), udp(53)), //        DROP: UDP to the blocked port
  pkt(eth(ETH_P_IP), ipv4(17), udp(80)), //        PASS
  pkt(eth(ETH_P_IP), ipv4(6), tcp(53)), //         PASS: TCP is not blocked
  pkt(eth(ETH_P_IPV6), ipv6(17), udp(53)), //      DROP
  pkt(eth(ETH_P_IPV6), ipv6(6), tcp(443)), //      PASS
  pkt(eth(ETH_P_ARP), Array(28).fill(1)), //       PASS: other
  pkt(eth(ETH_P_IP), ipv4(17, 6), udp(53)), //     DROP: the IHL of 6 moves the UDP header by 4
  pkt(eth(ETH_P_IP), Array(10).fill(0x45)), //     PASS: truncated IPv4 header
  pkt(eth(ETH_P_IP), ipv4(1), Array(8).fill(0)), // PASS: ICMP is other
  pkt(eth(ETH_P_IP), ipv4(17), [0, 1, 0, 53]), //  PASS: truncated UDP header
];
/** stats slots: PACKETS, IPV4, IPV6, UDP, TCP, OTHER, DROPPED, TRUNCATED */
const parserStats = [10n, 6n, 2n, 4n, 2n, 2n, 3n, 2n];

/** This thread's tid (what current->pid is in a test run from this thread). */
const tid = () => Number(readlinkSync('/proc/thread-self').split('/').pop());

/** The kernel values of the CO-RE relocations of core.bpf.c, read from vmlinux BTF by field name. */
function coreExpected(btf: Btf) {
  const off = (s: string, p: string) => BigInt(btf.memberOffset(s, p)!.offset);
  const pidType = btf.find('pid_type', BtfKind.Enum)!;
  return {
    pidOff: off('task_struct', 'pid'), pidSize: BigInt(btf.memberOffset('task_struct', 'pid')!.size), pidExists: 1n, oldExists: 0n,
    dportOff: off('sock', '__sk_common.skc_dport'), daddrOff: off('sock', '__sk_common.skc_daddr'), familyOff: off('sock', '__sk_common.skc_family'),
    dportSize: BigInt(btf.memberOffset('sock', '__sk_common.skc_dport')!.size),
    taskExists: 1n, noTypeExists: 0n, sockCommonSize: BigInt(btf.sizeOf(btf.find('sock_common', BtfKind.Struct)!.id)),
    pidtypeSid: pidType.enumValues!.find((e) => e.name === 'PIDTYPE_SID')!.value, bogusExists: 0n,
    parentOff: off('task_struct', 'real_parent'),
  };
}

const CASES: Case[] = [
  {
    fixture: 'maps',
    covers: 'hash, array, percpu hash/array, LRU hash, LRU percpu hash, prog array, ringbuf, perf event array and a legacy SEC("maps") map',
    bothOrders: true,
    run: ({ loaded: l }) => {
      const r = l.program('exercise').testRun({ data: new Uint8Array(64) });
      const results = l.map('results');
      return {
        r0: ret32(r.retval),
        results: Array.from({ length: 6 }, (_, i) => s64At(results.lookup(le32(i))!)),
        hash: [u64(l.map('hash'), 1), u64(l.map('hash'), 2)],
        array: u64s(l.map('array'), 4),
        pcHash: perCpuSum(l.map('pc_hash'), 1),
        pcArray: [perCpuSum(l.map('pc_array'), 0), perCpuSum(l.map('pc_array'), 1)],
        lru: u64(l.map('lru'), 2),
        lruPc: perCpuSum(l.map('lru_pc'), 2),
        legacy: l.map('legacy').lookup(le32(1)),
        ring: ringRecords(l.map('rb')).map((b) => [u64At(b, 0), u64At(b, 8)]),
      };
    },
    // The checksum and each step are in the comments of maps.bpf.c.
    expected: ({ name }) => ({
      r0: 4074,
      // update NOEXIST 0, again -EEXIST, delete of an absent key -ENOENT, ringbuf_output 0,
      // perf_event_output: the kernel has no perf event in slot 0 (-ENOENT), the runtime has a buffer (0).
      results: [0n, -17n, -2n, 0n, name === 'kernel' ? -2n : 0n, 4074n],
      hash: [15n, undefined],
      array: [0n, 0n, 7n, 0n],
      pcHash: 101n,
      pcArray: [0n, 200n],
      lru: 300n,
      lruPc: 400n,
      legacy: le32(50),
      ring: [[4073n, 0xfeedn]],
    }),
  },
  {
    fixture: 'maps_more',
    covers: 'queue, stack, LPM trie, bloom filter, array of maps initialised in the object, hash of maps filled from user space',
    bothOrders: true,
    run: ({ loaded: l }) => {
      // user space puts inner_b into outer_hash[7], as a loader's caller would
      l.map('outer_hash').update(le32(7), le32(l.map('inner_b').fd));
      const r = l.program('exercise_more').testRun({ data: new Uint8Array(64) });
      return { r0: ret32(r.retval), innerA: u64s(l.map('inner_a'), 4), innerB: u64s(l.map('inner_b'), 4) };
    },
    // 1 + 2*10 (queue) + 3*100 + 2*1000 (stack) + 2*10000 + 1*100000 + 7 (LPM) + 3 + 5 (bloom) + 11 + 13 (maps of maps)
    expected: () => ({ r0: 122360, innerA: [0n, 11n, 0n, 0n], innerB: [0n, 0n, 13n, 0n] }),
  },
  {
    fixture: 'globals',
    covers: '.rodata, .data, .bss, .rodata.str1.1, a custom .data.custom, arrays and structs, from a syscall program with ctx_in',
    bothOrders: true,
    run: ({ obj, loaded: l }) => {
      const p = l.program('globals');
      const args = (index: number, add: number) => Uint8Array.from([...le32(index), ...le32(add)]);
      const r0s = [p.testRun({ ctx: args(2, 5) }), p.testRun({ ctx: args(1, 10) })].map((r) => ret32(r.retval));
      const g = (name: string, size: number) => global(obj, l, name, size);
      const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
      const u32s = (b: Uint8Array) => Array.from({ length: b.length / 4 }, (_, i) => dv(b).getUint32(4 * i, true));
      const pair = (b: Uint8Array) => ({ a: dv(b).getUint32(0, true), b: dv(b).getUint16(4, true), c: b[6], d: u64At(b, 8) });
      const strs = l.map('.rodata.str1.1').lookup(new Uint8Array(4))!;
      return {
        r0s,
        data_counter: u64At(g('data_counter', 8)),
        data_array: u32s(g('data_array', 16)),
        data_pair: pair(g('data_pair', 16)),
        bss_total: u64At(g('bss_total', 8)),
        bss_array: u32s(g('bss_array', 32)),
        bss_pair: pair(g('bss_pair', 16)),
        bss_char: g('bss_char', 1)[0],
        custom_value: u64At(g('custom_value', 8)),
        custom_array: u32s(g('custom_array', 8)),
        rodata_mult: u32s(g('rodata_mult', 4))[0],
        ro_name: new TextDecoder().decode(g('ro_name', 8)),
        str: new TextDecoder().decode(strs),
      };
    },
    // Run {2, 5}: data_counter 105, data_array[2] 3*3 = 9, bss_total 105, bss_pair {7, 9, 9},
    //   custom_array[1] 23, ro_name[2] 'b' 98, "fixture"[2] 'x' 120: 485.
    // Run {1, 10}: 115, data_array[1] 2*3 = 6, bss_total 220, bss_pair {7, 10, 9}, 24, 's' 115, 'i' 105: 611.
    expected: () => ({
      r0s: [485, 611],
      data_counter: 115n,
      data_array: [1, 6, 9, 4],
      data_pair: { a: 7, b: 10, c: 9, d: 10n },
      bss_total: 220n,
      bss_array: [0, 6, 9, 0, 0, 0, 0, 0],
      bss_pair: { a: 7, b: 10, c: 9, d: 0xabcdefn },
      bss_char: 'i'.charCodeAt(0),
      custom_value: 0xabcdefn,
      custom_array: [11, 24],
      rodata_mult: 3,
      ro_name: 'tsbpf\0\0\0',
      str: 'fixture\0',
    }),
  },
  {
    fixture: 'subprogs',
    covers: 'static and global subprograms, nested calls, two programs sharing them, a bounded loop, a bpf_loop callback',
    run: ({ loaded: l }) => {
      const out = l.map('out');
      const first = (x: number) => Uint8Array.from({ length: 64 }, (_, i) => (i === 0 ? x : 0));
      const a = [5, 100].map((x) => {
        const r = l.program('prog_a').testRun({ data: first(x) });
        return [ret32(r.retval), ...u64s(out, 3)];
      });
      const b = [5, 0].map((x) => {
        const r = l.program('prog_b').testRun({ data: first(x) });
        return [ret32(r.retval), ...u64s(out, 6).slice(3)];
      });
      return { a, b };
    },
    // prog_a(x): middle = 4x + 4, global_fn = (4x + 4) ^ 0x55, sum_loop = sum of i(2i + 1) for i < min(x, 64)
    //   x = 5: 24, 24 ^ 0x55 = 77, 0 + 3 + 10 + 21 + 36 = 70
    //   x = 100: 404, 404 ^ 0x55 = 449, 2 * (63*64*127/6) + 63*64/2 = 172704
    // prog_b(x): bpf_loop(100) adds i*i until i + 1 >= x (at least one iteration); returns global_fn(x) + acc
    //   x = 5: leaf 11, acc 0+1+4+9+16 = 30, 5 iterations, 77 + 30 = 107
    //   x = 0: leaf 1, acc 0, 1 iteration, (4 ^ 0x55) = 81
    expected: () => ({
      a: [[2, 24n, 77n, 70n], [2, 404n, 449n, 172704n]],
      b: [[107, 11n, 30n, 5n], [81, 1n, 0n, 1n]],
    }),
  },
  {
    fixture: 'tailcall',
    covers: 'a prog array initialised in the object (.values = { [0] = &to_drop, [2] = &to_tx }), tail calls, empty and out-of-range slots',
    run: ({ loaded: l }) => {
      const rets = [0, 1, 2, 7].map((slot) => ret32(l.program('entry').testRun({ data: Uint8Array.from({ length: 64 }, (_, i) => (i === 0 ? slot : 0)) }).retval));
      return { rets, hits: u64s(l.map('hits'), 4), slots: [0, 1, 2, 3].map((i) => l.map('jmp').lookup(le32(i)) !== undefined) };
    },
    // slot 0 -> to_drop (XDP_DROP 1), 1 empty -> falls through (XDP_PASS 2), 2 -> to_tx (XDP_TX 3), 7 >= max_entries -> 2
    // hits: entry 4 times, to_drop once, to_tx once, fall-through twice
    expected: () => ({ rets: [1, 2, 3, 2], hits: [4n, 1n, 1n, 2n], slots: [true, false, true, false] }),
  },
  {
    fixture: 'xdp_parser',
    covers: 'Ethernet/IPv4 (with options)/IPv6/UDP/TCP parsing with bounds checks, per-protocol counts, XDP_DROP of the blocked UDP port',
    run: ({ loaded: l }) => ({
      rets: parserPackets.map((d) => ret32(l.program('xdp_parser').testRun({ data: d }).retval)),
      stats: u64s(l.map('stats'), 8),
    }),
    expected: () => ({ rets: [1, 2, 2, 1, 2, 2, 1, 2, 2, 2], stats: parserStats }),
  },
  {
    fixture: 'xdp_parser',
    covers: 'the same with .rodata blocked_port set to 80 before load, as a skeleton sets it',
    prepare: (obj) => {
      const sym = obj.elf.symbols.find((s) => s.name === 'blocked_port')!;
      new DataView(obj.map('.rodata')!.initial!.buffer, obj.map('.rodata')!.initial!.byteOffset).setUint16(sym.value, 80, true);
    },
    run: ({ loaded: l }) => ({ rets: parserPackets.map((d) => ret32(l.program('xdp_parser').testRun({ data: d }).retval)) }),
    // now only the UDP packet to port 80 is dropped
    expected: () => ({ rets: [2, 1, 2, 2, 2, 2, 2, 2, 2, 2] }),
  },
  {
    fixture: 'core',
    covers: 'CO-RE field offset/size/existence, type existence/size, enum value/existence relocations, and CO-RE probe reads of current (user space: task images laid out from vmlinux BTF)',
    bothOrders: true,
    core: true,
    run: ({ name, backend, loaded: l }) => {
      const out = l.map('out');
      l.program('core_fields').testRun({ data: new Uint8Array(64) });
      const fields = u64s(out, 14);
      if (name !== 'kernel') {
        // No task in user space: the current task and its parent are images in guest memory, each
        // field where the kernel's BTF puts it (as an event provider lays them out).
        const rt = (backend as InterpBackend | JitBackend).runtime;
        const at = (p: string) => vmlinux!.memberOffset('task_struct', p)!.offset;
        const size = vmlinux!.sizeOf(vmlinux!.find('task_struct', BtfKind.Struct)!.id);
        const parent = rt.space.alloc(size, 'parent task_struct');
        const task = rt.space.alloc(size, 'current task_struct');
        const image = (pid: number, tgid: number, realParent: number) => {
          const b = new Uint8Array(size);
          const v = new DataView(b.buffer);
          v.setInt32(at('pid'), pid, true);
          v.setInt32(at('tgid'), tgid, true);
          v.setBigUint64(at('real_parent'), BigInt(realParent), true);
          return b;
        };
        rt.space.write(parent, image(77, 77, 0));
        rt.space.write(task, image(4242, 4240, parent));
        rt.context.task = task;
        l.program('core_task').testRun({ data: new Uint8Array(64) });
        return { fields, task: u64s(out, 17).slice(14) };
      }
      l.program('core_task').testRun({ data: new Uint8Array(64) });
      return { fields, task: u64s(out, 17).slice(14), tid: tid() };
    },
    expected: ({ name }) => {
      const e = coreExpected(vmlinux!);
      const fields = [
        e.pidOff, e.pidSize, e.pidExists, e.oldExists, e.dportOff, e.daddrOff, e.familyOff, e.dportSize,
        e.taskExists, e.noTypeExists, e.sockCommonSize, e.pidtypeSid, e.bogusExists, e.parentOff,
      ];
      // user space: the images the run laid out (pid 4242 of process 4240, whose parent is 77)
      if (name !== 'kernel') return { fields, task: [4242n, 4240n, 77n] };
      // current->pid is this thread, ->tgid this process, ->real_parent->tgid its parent
      return { fields, task: [BigInt(tid()), BigInt(process.pid), BigInt(process.ppid)], tid: tid() };
    },
  },
  {
    fixture: 'kprobe_tracer',
    covers: 'kprobe + kretprobe on tcp_v4_connect (BCC tcpconnect): PT_REGS_PARM1, CO-RE reads of struct sock, a ring buffer event',
    core: true,
    loadOnlyOnKernel: true,
    run: ({ backend, loaded: l }) => {
      // A fake struct sock in guest memory, its fields where the kernel's BTF puts them:
      // AF_INET, 93.184.216.34:443.
      const space = (backend as InterpBackend | JitBackend).runtime.space;
      const at = (p: string) => vmlinux!.memberOffset('sock', p)!.offset;
      const size = vmlinux!.sizeOf(vmlinux!.find('sock_common', BtfKind.Struct)!.id);
      const sk = space.alloc(size, 'fake struct sock');
      const fake = new Uint8Array(size);
      new DataView(fake.buffer).setUint16(at('__sk_common.skc_family'), 2, true);
      fake.set([93, 184, 216, 34], at('__sk_common.skc_daddr'));
      fake.set(be16(443), at('__sk_common.skc_dport'));
      space.write(sk, fake);
      // x86-64 struct pt_regs: di (PT_REGS_PARM1) at 14 * 8, ax (PT_REGS_RC) at 10 * 8
      const regs = (fields: Record<number, number>) => {
        const b = new Uint8Array(21 * 8);
        for (const [i, v] of Object.entries(fields)) new DataView(b.buffer).setBigUint64(Number(i) * 8, BigInt.asUintN(64, BigInt(v)), true);
        return b;
      };
      const entry = l.program('trace_connect_entry');
      const ret = l.program('trace_connect_return');
      entry.testRun({ ctx: regs({ 14: sk }) });
      const remembered = u64(l.map('currsock'), 4242);
      ret.testRun({ ctx: regs({ 10: 0 }) });
      const afterReturn = u64(l.map('currsock'), 4242);
      entry.testRun({ ctx: regs({ 14: sk }) });
      ret.testRun({ ctx: regs({ 10: -111 }) }); // ECONNREFUSED: no event
      const events = ringRecords(l.map('events')).map((e) => {
        const dv = new DataView(e.buffer, e.byteOffset, e.byteLength);
        return {
          pid: dv.getUint32(0, true), tgid: dv.getUint32(4, true), daddr: [...e.subarray(8, 12)], dport: dv.getUint16(12, true), family: dv.getUint16(14, true),
          comm: new TextDecoder().decode(e.subarray(16, 32)).replace(/\0+$/, ''),
        };
      });
      return { remembered: remembered === BigInt(sk), afterReturn, events };
    },
    expected: () => ({
      remembered: true,
      afterReturn: undefined,
      events: [{ pid: 4242, tgid: 4240, daddr: [93, 184, 216, 34], dport: 443, family: 2, comm: 'curl' }],
    }),
  },
];

/** The object of a case, with `prepare` applied and, on user-space backends, the kernel-only programs left out. */
function objectFor(c: Case, onKernel: boolean): BpfObject {
  const obj = open(c.fixture);
  c.prepare?.(obj);
  if (!onKernel && c.kernelOnly) obj.programs = obj.programs.filter((p) => !c.kernelOnly!.includes(p.name));
  return obj;
}

const context = { pid: 4242, tgid: 4240, comm: 'curl' };
const USER: [BackendName, () => InterpBackend | JitBackend][] = [
  ['interp', () => new InterpBackend({ context })],
  ['jit-wasm', () => new JitBackend({ context })],
];

describe('the clang-built fixtures', () => {
  for (const c of CASES) {
    describe(`${c.fixture}.bpf.c: ${c.covers}`, () => {
      const coreOpts = (): LoadObjectOptions => (c.core ? { targetBtf: vmlinux! } : {});
      const skipCore = c.core && !vmlinux;

      if (c.bothOrders) {
        it('the big-endian object opens to the same programs, maps, references and initial values', () => {
          // clang's code differs between the byte orders (constants built in memory, which half of a
          // u64 holds a u32), so the comparison is of what the code refers to, not of the code itself.
          const el = open(c.fixture);
          const eb = open(c.fixture, 'eb');
          expect(eb.littleEndian).toBe(false);
          const shape = (o: BpfObject) => ({
            maps: o.maps.map((m) => [m.name, m.spec]),
            programs: o.programs.map((p) => ({
              name: p.name, section: p.section,
              refs: p.refs.map((r) => `${o.maps[r.map].name}:${r.kind}:${r.offset}`).sort(),
              core: p.coreRelos.map((r) => `${r.kind}:${r.accessStr}`).sort(),
            })),
          });
          expect(shape(eb)).toEqual(shape(el));
          // every integer global has the same initial value, read in each object's byte order
          const scalars = (o: BpfObject) => o.elf.symbols
            .filter((y) => y.shndx > 0 && [1, 2, 4, 8].includes(y.size) && o.map(o.elf.sections[y.shndx]?.name ?? '')?.initial)
            .filter((y) => {
              const v = o.btf?.find(y.name, BtfKind.Var);
              return v !== undefined && o.btf!.resolve(v.type).kind === BtfKind.Int;
            })
            .map((y) => {
              const data = o.map(o.elf.sections[y.shndx].name)!.initial!;
              const dv = new DataView(data.buffer, data.byteOffset);
              const v = y.size === 8 ? dv.getBigUint64(y.value, o.littleEndian) : y.size === 4 ? dv.getUint32(y.value, o.littleEndian) : y.size === 2 ? dv.getUint16(y.value, o.littleEndian) : data[y.value];
              return [y.name, String(v)];
            })
            .sort();
          expect(scalars(eb)).toEqual(scalars(el));
        });
      }

      for (const [name, make] of USER) {
        it.skipIf(skipCore)(`${name}: every program verifies (ours), loads and runs as the C source says`, () => {
          const backend = make();
          const obj = objectFor(c, false);
          const loaded = loadObjectInto(obj, backend, { verify: ourVerifier(obj), ...coreOpts() });
          const env = { name, backend, obj, loaded };
          expect(c.run(env)).toEqual(c.expected(env));
        });
      }

      // On its own, before any backend: every program, including those a user-space backend
      // cannot load (kernelOnly, or maps the runtime lacks), with map descriptors made up.
      it.skipIf(skipCore)('our verifier accepts every program (maps by made-up fds, CO-RE resolved against vmlinux)', () => {
        const obj = open(c.fixture);
        c.prepare?.(obj);
        const fds = obj.maps.map((_, i) => 100 + i);
        const infos: LoadedMapInfo[] = obj.maps.map((m, i) => ({ fd: fds[i], name: m.name, spec: m.spec, frozen: m.section.startsWith('.rodata'), ...(m.initial ? { initial: m.initial } : {}) }));
        const core = c.core && obj.btf ? { local: obj.btf, target: vmlinux! } : undefined;
        for (const p of obj.programs) {
          const funcInfo = p.funcInfo.map((f) => ({ insnOff: f.slot, typeId: f.typeId }));
          ourVerifier(obj)({ insns: resolveProgram(p, fds, core), progType: p.progType, expectedAttachType: p.expectedAttachType, license: p.license, name: p.name, btf: { data: new Uint8Array(), funcInfo } }, infos);
        }
      });

      it.runIf(kernel.ok && !skipCore)(`kernel: loads${c.loadOnlyOnKernel ? ' (kprobes cannot be test-run: load only)' : ', and the same run ends with the same r0 and maps'}`, () => {
        const k = new KernelBackend();
        try {
          const obj = objectFor(c, true);
          const loaded = loadObjectInto(obj, k, coreOpts());
          expect([...loaded.programs.keys()].sort()).toEqual(obj.programs.map((p) => p.name).sort());
          if (c.loadOnlyOnKernel) return;
          const env = { name: 'kernel' as const, backend: k, obj, loaded };
          expect(c.run(env)).toEqual(c.expected(env));
        } finally {
          k.close();
        }
      });

      if (c.core) {
        it.runIf(kernel.ok && !skipCore)('kernel, resolving CO-RE itself (core_relos at BPF_PROG_LOAD): loads, and gives the same values', () => {
          const k = new KernelBackend();
          try {
            const obj = objectFor(c, true);
            const loaded = loadObjectInto(obj, k, { coreByBackend: true });
            if (c.loadOnlyOnKernel) return;
            const env = { name: 'kernel' as const, backend: k, obj, loaded };
            expect(c.run(env)).toEqual(c.expected(env));
          } finally {
            k.close();
          }
        });
      }
    });
  }
  if (!kernel.ok) console.log(`fixtures on the kernel skipped: ${kernel.reason}`);
  if (!vmlinux) console.log(`CO-RE fixtures skipped: no ${VMLINUX}`);
});

describe('tsbpf run FILE.o', () => {
  it('a rejection prints the path to the error with the C source lines, as the kernel\'s log does', () => {
    const bytes = new Uint8Array(readFileSync(join(fixtures, 'xdp_parser.bpfel.o')));
    // xdp_parser 43: `if ((void *)(ip6 + 1) > end) goto truncated;` (if r6 > r7 goto +75) becomes goto +0
    const xdp = openObject(bytes).elf.section('xdp')!;
    bytes.set([0x05, 0, 0, 0, 0, 0, 0, 0], xdp.offset + 43 * 8);
    let message = '';
    try {
      runObject('xdp_parser.bpfel.o', bytes, { backend: 'interp', mem: new Uint8Array(64) });
    } catch (e) {
      expect(e).toBeInstanceOf(CliExit);
      message = (e as CliExit).message;
    }
    expect(message).toMatch(/^xdp_parser\.bpfel\.o: the verifier rejected xdp_parser at xdp_parser\.bpf\.c:101: proto = ip6->nexthdr;: R8 offset is outside of the packet\n/);
    expect(message).toContain([
      '; if ((void *)(ip6 + 1) > end) goto truncated; @ xdp_parser.bpf.c:99',
      '41: (bf) r6 = r8',
    ].join('\n'));
    expect(message).toContain([
      '; proto = ip6->nexthdr; @ xdp_parser.bpf.c:101',
      '54: (07) r8 += 20',
      '55: (71) r1 = *(u8 *)(r8 +0)',
      'invalid access to packet, off=20 size=1, R8(id=0,off=20,r=14)',
    ].join('\n'));
  });
});

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CoreError, TsbpfError } from '../errors.js';
import { Btf, BtfKind } from './btf.js';
import { btfBlob } from '../test-support/btf-blob.js';
import { CORE_POISON_IMM, CoreReloKind as K, coreEssentialName, patchCoreInsn, resolveCoreRelo, type CoreRelo, type CoreResolution } from './core.js';

/** A member: name, type id, bit offset, bitfield size (0 or absent: a plain member). */
type Member = [name: string, type: number, bitOffset: number, bitfieldSize?: number];

/**
 * Writes BTF blobs in the format of the kernel's Documentation/bpf/btf.rst, one type per call,
 * ids from 1 in call order (so `nextId` names a type before it is written, for cycles).
 */
class BtfBuilder {
  private words: number[] = [];
  private strings = '\0';
  nextId = 1;

  private str(name: string): number {
    if (!name) return 0;
    const at = this.strings.indexOf(`\0${name}\0`);
    if (at >= 0) return at + 1;
    const off = this.strings.length;
    this.strings += `${name}\0`;
    return off;
  }

  private head(name: string, kind: BtfKind, vlen: number, sizeOrType: number, kflag = false): number {
    this.words.push(this.str(name), ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType);
    return this.nextId++;
  }

  int(name: string, size: number, signed = false, opts: { bits?: number; offset?: number; char?: boolean } = {}): number {
    const id = this.head(name, BtfKind.Int, 0, size);
    const enc = (signed ? 1 : 0) | (opts.char ? 2 : 0);
    this.words.push((enc << 24) | ((opts.offset ?? 0) << 16) | (opts.bits ?? size * 8));
    return id;
  }
  float(name: string, size: number): number { return this.head(name, BtfKind.Float, 0, size); }
  ptr(to: number): number { return this.head('', BtfKind.Ptr, 0, to); }
  typedef(name: string, to: number): number { return this.head(name, BtfKind.Typedef, 0, to); }
  qual(kind: BtfKind.Const | BtfKind.Volatile | BtfKind.Restrict | BtfKind.TypeTag, to: number, name = ''): number { return this.head(name, kind, 0, to); }
  fwd(name: string, union = false): number { return this.head(name, BtfKind.Fwd, 0, 0, union); }
  array(elem: number, nelems: number): number {
    const id = this.head('', BtfKind.Array, 0, 0);
    this.words.push(elem, elem, nelems);
    return id;
  }
  struct(name: string, size: number, members: Member[], union = false): number {
    const kflag = members.some((m) => (m[3] ?? 0) > 0);
    const id = this.head(name, union ? BtfKind.Union : BtfKind.Struct, members.length, size, kflag);
    for (const [n, type, bits, bf = 0] of members) this.words.push(this.str(n), type, kflag ? ((bf << 24) | bits) >>> 0 : bits);
    return id;
  }
  union(name: string, size: number, members: Member[]): number { return this.struct(name, size, members, true); }
  enum(name: string, size: number, values: [string, number][], signed = false): number {
    const id = this.head(name, BtfKind.Enum, values.length, size, signed);
    for (const [n, v] of values) this.words.push(this.str(n), v >>> 0);
    return id;
  }
  enum64(name: string, size: number, values: [string, bigint][], signed = false): number {
    const id = this.head(name, BtfKind.Enum64, values.length, size, signed);
    for (const [n, v] of values) {
      const u = BigInt.asUintN(64, v);
      this.words.push(this.str(n), Number(u & 0xffffffffn), Number(u >> 32n));
    }
    return id;
  }
  funcProto(ret: number, params: number[]): number {
    const id = this.head('', BtfKind.FuncProto, params.length, ret);
    for (const p of params) this.words.push(0, p);
    return id;
  }

  build(): Uint8Array {
    return btfBlob(this.words, this.strings);
  }
}

/**
 * The program's BTF, as clang would emit it from a vmlinux.h of an older kernel plus a few
 * `___flavour` structs of the program's own. Byte offsets in comments.
 */
function localBtf(): Btf {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  const uint = b.int('unsigned int', 4);
  const long = b.int('long', 8, true);
  const u64 = b.int('unsigned long long', 8);
  const ushort = b.int('unsigned short', 2);
  const task = b.nextId;
  // struct task_struct { int pid /*0*/; int tgid /*4*/; struct task_struct *real_parent /*8*/; unsigned prio /*16*/; }
  b.struct('task_struct', 24, [['pid', int, 0], ['tgid', int, 32], ['real_parent', task + 1, 64], ['prio', uint, 128]]);
  const taskPtr = b.ptr(task);
  b.struct('task_struct___old', 8, [['state', long, 0]]);
  b.struct('task_struct___new', 4, [['__state', uint, 0]]);
  b.struct('task_struct___min', 8, [['pid', int, 0], ['tgid', int, 32]]);
  b.struct('task_struct___ptr', 8, [['pid', taskPtr, 0]]);
  // struct sock_common { __be32 skc_daddr /*0*/; __be16 skc_dport /*4*/; } (flat, unlike the kernel's)
  const be16 = b.typedef('__be16', b.typedef('__u16', ushort));
  const be32 = b.typedef('__be32', uint);
  const sockCommon = b.struct('sock_common', 8, [['skc_daddr', be32, 0], ['skc_dport', be16, 32]]);
  b.struct('sock', 8, [['__sk_common', sockCommon, 0]]);
  // struct anon_host { int x /*0*/; union { int a; long b; } /*8*/; }
  const anonUnion = b.union('', 8, [['a', int, 0], ['b', long, 0]]);
  b.struct('anon_host', 16, [['x', int, 0], ['', anonUnion, 64]]);
  // struct arr_host { int hdr /*0*/; int arr[4] /*4*/; }  struct arr_small { int arr[4]; }
  const int4 = b.array(int, 4);
  b.struct('arr_host', 20, [['hdr', int, 0], ['arr', int4, 32]]);
  b.struct('arr_small', 16, [['arr', int4, 0]]);
  // struct flex { int n /*0*/; int data[] /*4*/; }
  const flex = b.nextId;
  b.struct('flex', 4, [['n', int, 0], ['data', flex + 1, 32]]);
  b.array(int, 0);
  // struct bf { unsigned a:3 (bit 0); unsigned b:5 (bit 3); int c:10 (bit 8); unsigned d:10 (bit 18); }
  b.struct('bf', 8, [['a', uint, 0, 3], ['b', uint, 3, 5], ['c', int, 8, 10], ['d', uint, 18, 10]]);
  b.struct('bf_wide', 8, [['w', u64, 0, 60]]);
  b.enum('state', 4, [['RUNNING', 0], ['SLEEPING', 1], ['ZOMBIE', 2], ['STOPPED___v2', 3], ['DEAD', 5], ['GONE', 6]]);
  b.enum64('flags64', 8, [['BIG', 0x1_0000_0000n]]);
  b.enum('mixed', 4, [['M', 7]]);
  // struct sz { u64 u /*0*/; long s /*8*/; struct task_struct *p /*16*/; u64 big /*24*/; }
  b.struct('sz', 32, [['u', u64, 0], ['s', long, 64], ['p', taskPtr, 128], ['big', u64, 192]]);
  b.struct('far', 4, [['f', int, 0]]);
  b.struct('dup', 8, [['x', int, 0], ['y', int, 32]]);
  b.struct('same', 4, [['x', int, 0]]);
  b.struct('missing_type', 4, [['m', int, 0]]);
  b.typedef('pid_t', int);
  b.struct('', 4, [['anon', int, 0]]);
  return Btf.parse(b.build());
}

/** The "running kernel": the same types, other layouts, some fields gone, nested anonymous members. */
function targetBtf(): Btf {
  const b = new BtfBuilder();
  const uint = b.int('unsigned int', 4);
  const int = b.int('int', 4, true);
  const long = b.int('long', 8, true);
  const char = b.int('char', 1, true, { char: true });
  const ushort = b.int('unsigned short', 2);
  const u64 = b.int('unsigned long long', 8);
  const task = b.nextId;
  // struct task_struct { unsigned __state /*0*/; unsigned flags /*4*/; void *stack /*8*/; long usage /*16*/;
  //   int on_cpu /*24*/; int pid /*40*/; int tgid /*44*/; struct task_struct *real_parent /*48*/; char comm[8] /*56*/; }
  b.struct('task_struct', 64, [
    ['__state', uint, 0], ['flags', uint, 32], ['stack', task + 1, 64], ['usage', long, 128], ['on_cpu', int, 192],
    ['pid', int, 320], ['tgid', int, 352], ['real_parent', task + 2, 384], ['comm', task + 3, 448],
  ]);
  b.ptr(0);
  const taskPtr = b.ptr(task);
  b.array(char, 8);
  // struct sock_common {
  //   union { __addrpair skc_addrpair; struct { __be32 skc_daddr; __be32 skc_rcv_saddr; }; };     /*0*/
  //   union { unsigned skc_hash; unsigned short skc_u16hashes[2]; };                             /*8*/
  //   union { unsigned skc_portpair; struct { __be16 skc_dport; unsigned short skc_num; }; };     /*12*/
  // }
  // struct sock { u64 pad0 /*0*/; struct sock_common __sk_common /*8*/; int sk_rcvbuf /*24*/; }
  const be16 = b.typedef('__be16', b.typedef('__u16', ushort));
  const be32 = b.typedef('__be32', b.typedef('__u32', uint));
  const addrpair = b.typedef('__addrpair', u64);
  const addrs = b.struct('', 8, [['skc_daddr', be32, 0], ['skc_rcv_saddr', be32, 32]]);
  const u1 = b.union('', 8, [['skc_addrpair', addrpair, 0], ['', addrs, 0]]);
  const u2 = b.union('', 4, [['skc_hash', uint, 0], ['skc_u16hashes', b.array(ushort, 2), 0]]);
  const ports = b.struct('', 4, [['skc_dport', be16, 0], ['skc_num', ushort, 16]]);
  const u3 = b.union('', 4, [['skc_portpair', uint, 0], ['', ports, 0]]);
  const sockCommon = b.struct('sock_common', 16, [['', u1, 0], ['', u2, 64], ['', u3, 96]]);
  b.struct('sock', 32, [['pad0', u64, 0], ['__sk_common', sockCommon, 64], ['sk_rcvbuf', int, 192]]);
  // struct anon_host { long y /*0*/; int x /*8*/; union { long b; int a; } /*16*/; }
  const anonUnion = b.union('', 8, [['b', long, 0], ['a', int, 0]]);
  b.struct('anon_host', 24, [['y', long, 0], ['x', int, 64], ['', anonUnion, 128]]);
  // struct arr_host { long pad /*0*/; int hdr /*8*/; int arr[8] /*12*/; }  struct arr_small { int arr[2]; }
  b.struct('arr_host', 48, [['pad', long, 0], ['hdr', int, 64], ['arr', b.array(int, 8), 96]]);
  b.struct('arr_small', 8, [['arr', b.array(int, 2), 0]]);
  // struct flex { long pad /*0*/; int n /*8*/; int data[] /*12*/; }
  b.struct('flex', 12, [['pad', long, 0], ['n', int, 64], ['data', b.array(int, 0), 96]]);
  // struct bf { unsigned x /*0*/; unsigned a:3 (bit 32); unsigned b:5 (bit 39); int c:10 (bit 50); unsigned d:10 (bit 92); }
  b.struct('bf', 16, [['x', uint, 0, 0], ['a', uint, 32, 3], ['b', uint, 39, 5], ['c', int, 50, 10], ['d', uint, 92, 10]]);
  b.struct('bf_wide', 16, [['w', u64, 8, 60]]);
  b.enum('state', 4, [['RUNNING', 0], ['ZOMBIE', 32], ['SLEEPING', 1], ['DEAD', -1], ['STOPPED', 4]], true);
  b.enum64('flags64', 8, [['BIG', 0x2_0000_0001n]]);
  b.enum64('mixed', 8, [['M', 0x1_0000_0007n]]);
  // struct sz { unsigned u /*0*/; int s /*4*/; struct task_struct *p /*8*/; unsigned __int128 big /*16*/; }
  b.struct('sz', 32, [['u', uint, 0], ['s', int, 32], ['p', taskPtr, 64], ['big', b.int('unsigned __int128', 16), 128]]);
  // struct far { char pad[40000]; int f /*40000*/; }
  b.struct('far', 40004, [['pad', b.array(char, 40000), 0], ['f', int, 320000]]);
  // Two flavours of one struct, as bpftool names duplicates: dup and dup___2 disagree, same and same___1 agree.
  b.struct('dup', 8, [['x', int, 0]]);
  b.struct('dup___2', 16, [['y', int, 0], ['x', int, 32]]);
  b.struct('same', 4, [['x', int, 0]]);
  b.struct('same___1', 4, [['x', int, 0]]);
  b.typedef('pid_t', int);
  return Btf.parse(b.build());
}

const local = localBtf();
const target = targetBtf();

function relo(root: string, accessStr: string, kind: K, insnOff = 0): CoreRelo {
  const id = root === '(anon)' ? local.types.find((t) => t.kind === BtfKind.Struct && t.name === '')!.id : local.findAll(root)[0];
  expect(id, `local type ${root}`).toBeDefined();
  return { insnOff, typeId: id, accessStr, kind };
}

function resolved(res: CoreResolution) {
  if (!res.ok) throw new Error(`expected a resolution, got ${res.code}: ${res.reason}`);
  return res;
}

/**
 * Resolutions whose values were worked out by hand from the layouts above (see the comments
 * there). `access` is the expected target access string; `validate` whether the instruction is checked.
 */
const RESOLVED: { why: string; root: string; access: string; kind: K; local: bigint; target: bigint; targetAccess?: string; validate?: boolean }[] = [
  { why: 'pid moved 0 -> 40', root: 'task_struct', access: '0:0', kind: K.FieldByteOffset, local: 0n, target: 40n, targetAccess: '0:5' },
  { why: 'tgid moved 4 -> 44', root: 'task_struct', access: '0:1', kind: K.FieldByteOffset, local: 4n, target: 44n, targetAccess: '0:6' },
  { why: 'real_parent moved 8 -> 48', root: 'task_struct', access: '0:2', kind: K.FieldByteOffset, local: 8n, target: 48n },
  { why: 'real_parent is a pointer', root: 'task_struct', access: '0:2', kind: K.FieldByteSize, local: 8n, target: 8n },
  { why: 'tgid exists', root: 'task_struct', access: '0:1', kind: K.FieldExists, local: 1n, target: 1n },
  { why: 'prio is gone: exists gives 0', root: 'task_struct', access: '0:3', kind: K.FieldExists, local: 1n, target: 0n },
  { why: 'old flavour: state is gone', root: 'task_struct___old', access: '0:0', kind: K.FieldExists, local: 1n, target: 0n },
  { why: 'new flavour: __state at 0', root: 'task_struct___new', access: '0:0', kind: K.FieldByteOffset, local: 0n, target: 0n, targetAccess: '0:0' },
  { why: 'pid is a signed int', root: 'task_struct', access: '0:0', kind: K.FieldSigned, local: 1n, target: 1n },
  { why: 'dport: flat locally, 8 + 12 + 0 through two anonymous members in the target', root: 'sock', access: '0:0:1', kind: K.FieldByteOffset, local: 4n, target: 20n, targetAccess: '0:1:2:1:0' },
  { why: 'daddr: 8 + 0 + 0 through an anonymous union and struct', root: 'sock', access: '0:0:0', kind: K.FieldByteOffset, local: 0n, target: 8n, targetAccess: '0:1:0:1:0' },
  { why: 'dport is 2 bytes (through two typedefs)', root: 'sock', access: '0:0:1', kind: K.FieldByteSize, local: 2n, target: 2n },
  { why: 'dport is unsigned', root: 'sock', access: '0:0:1', kind: K.FieldSigned, local: 0n, target: 0n },
  { why: 'b through a local anonymous union: 8 -> 16', root: 'anon_host', access: '0:1:1', kind: K.FieldByteOffset, local: 8n, target: 16n, targetAccess: '0:2:0' },
  { why: 'x: 0 -> 8', root: 'anon_host', access: '0:0', kind: K.FieldByteOffset, local: 0n, target: 8n },
  { why: 'arr[2]: 4 + 8 -> 12 + 8', root: 'arr_host', access: '0:1:2', kind: K.FieldByteOffset, local: 12n, target: 20n, targetAccess: '0:2:2' },
  { why: 'arr[2] is an int', root: 'arr_host', access: '0:1:2', kind: K.FieldByteSize, local: 4n, target: 4n },
  { why: 'arr grew from 4 to 8 ints', root: 'arr_host', access: '0:1', kind: K.FieldByteSize, local: 16n, target: 32n },
  { why: 'p[1].arr: 20 + 4 -> 48 + 12', root: 'arr_host', access: '1:1', kind: K.FieldByteOffset, local: 24n, target: 60n, targetAccess: '1:2' },
  { why: 'flexible array data[5]: 4 + 20 -> 12 + 20', root: 'flex', access: '0:1:5', kind: K.FieldByteOffset, local: 24n, target: 32n },
  // Bitfields: byte offset/size of the smallest aligned load of the field's type (or wider) holding it.
  { why: 'bf.a: bit 0 -> bit 32: u32 load at 4', root: 'bf', access: '0:0', kind: K.FieldByteOffset, local: 0n, target: 4n, validate: false },
  { why: 'bf.a: 3 bits at 0 of the load: lshift 64-3', root: 'bf', access: '0:0', kind: K.FieldLShiftU64, local: 61n, target: 61n, validate: false },
  { why: 'bf.b: bit 3 -> 39: load at 4', root: 'bf', access: '0:1', kind: K.FieldByteOffset, local: 0n, target: 4n, validate: false },
  { why: 'bf.b: u32 load', root: 'bf', access: '0:1', kind: K.FieldByteSize, local: 4n, target: 4n, validate: false },
  { why: 'bf.b: lshift 64-(3+5) -> 64-(39+5-32)', root: 'bf', access: '0:1', kind: K.FieldLShiftU64, local: 56n, target: 52n, validate: false },
  { why: 'bf.b: rshift 64-5, always checked', root: 'bf', access: '0:1', kind: K.FieldRShiftU64, local: 59n, target: 59n, validate: true },
  { why: 'bf.b: unsigned', root: 'bf', access: '0:1', kind: K.FieldSigned, local: 0n, target: 0n, validate: true },
  { why: 'bf.c: signed int:10 at 8 -> 50: load at 4', root: 'bf', access: '0:2', kind: K.FieldByteOffset, local: 0n, target: 4n, validate: false },
  { why: 'bf.c: lshift 64-18 -> 64-(60-32)', root: 'bf', access: '0:2', kind: K.FieldLShiftU64, local: 46n, target: 36n, validate: false },
  { why: 'bf.c: rshift 64-10', root: 'bf', access: '0:2', kind: K.FieldRShiftU64, local: 54n, target: 54n },
  { why: 'bf.c: signed', root: 'bf', access: '0:2', kind: K.FieldSigned, local: 1n, target: 1n },
  { why: 'bf.d: bits 92..101 straddle u32 words: widened to a u64 load at 8', root: 'bf', access: '0:3', kind: K.FieldByteOffset, local: 0n, target: 8n, validate: false },
  { why: 'bf.d: u32 locally, u64 load in the target', root: 'bf', access: '0:3', kind: K.FieldByteSize, local: 4n, target: 8n, validate: false },
  { why: 'bf.d: lshift 64-28 -> 64-(102-64)', root: 'bf', access: '0:3', kind: K.FieldLShiftU64, local: 36n, target: 26n, validate: false },
  { why: 'type exists', root: 'task_struct', access: '0', kind: K.TypeExists, local: 1n, target: 1n },
  { why: 'a flavour finds the base type', root: 'task_struct___new', access: '0', kind: K.TypeExists, local: 1n, target: 1n },
  { why: 'type size 24 -> 64', root: 'task_struct', access: '0', kind: K.TypeSize, local: 24n, target: 64n },
  { why: 'typedef size', root: 'pid_t', access: '0', kind: K.TypeSize, local: 4n, target: 4n },
  { why: 'missing type: exists gives 0', root: 'missing_type', access: '0', kind: K.TypeExists, local: 1n, target: 0n },
  { why: 'missing type: size gives 0', root: 'missing_type', access: '0', kind: K.TypeSize, local: 4n, target: 0n },
  { why: 'task_struct___min (pid, tgid: ints of the same size and sign) matches', root: 'task_struct___min', access: '0', kind: K.TypeMatches, local: 1n, target: 1n },
  { why: 'task_struct has prio, which the target lacks: no match', root: 'task_struct', access: '0', kind: K.TypeMatches, local: 1n, target: 0n },
  { why: 'sock exists but does not match (dport is behind anonymous members)', root: 'sock', access: '0', kind: K.TypeMatches, local: 1n, target: 0n },
  { why: 'enumerator ZOMBIE: 2 -> 32', root: 'state', access: '2', kind: K.EnumvalValue, local: 2n, target: 32n },
  { why: 'enumerator flavour STOPPED___v2 finds STOPPED: 3 -> 4', root: 'state', access: '3', kind: K.EnumvalValue, local: 3n, target: 4n },
  { why: 'enumerator DEAD: 5 -> -1, as a u64', root: 'state', access: '4', kind: K.EnumvalValue, local: 5n, target: 0xffff_ffff_ffff_ffffn },
  { why: 'enumerator exists', root: 'state', access: '1', kind: K.EnumvalExists, local: 1n, target: 1n },
  { why: 'enumerator GONE does not exist', root: 'state', access: '5', kind: K.EnumvalExists, local: 1n, target: 0n },
  { why: 'enum64 value', root: 'flags64', access: '0', kind: K.EnumvalValue, local: 0x1_0000_0000n, target: 0x2_0000_0001n },
  { why: 'a 32-bit enum finds an enum64', root: 'mixed', access: '0', kind: K.EnumvalValue, local: 7n, target: 0x1_0000_0007n },
  { why: 'flavours that agree: same and same___1', root: 'same', access: '0:0', kind: K.FieldByteOffset, local: 0n, target: 0n },
];

describe('resolveCoreRelo: hand-laid-out local and target BTF', () => {
  it.each(RESOLVED)('$why', (c) => {
    const res = resolved(resolveCoreRelo(local, target, relo(c.root, c.access, c.kind)));
    expect({ local: res.local, target: res.target }).toEqual({ local: c.local, target: c.target });
    if (c.targetAccess !== undefined) expect(res.targetAccess).toBe(c.targetAccess);
    if (c.validate !== undefined) expect(res.validate).toBe(c.validate);
  });

  it('covers every relocation kind', () => {
    const kinds = new Set(RESOLVED.map((c) => c.kind));
    kinds.add(K.TypeIdLocal).add(K.TypeIdTarget); // below
    expect([...kinds].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('type ids: local is the relocation\'s own id, target the id of the target type; neither is checked', () => {
    const r = relo('task_struct', '0', K.TypeIdLocal);
    expect(resolved(resolveCoreRelo(local, target, r))).toMatchObject({ local: BigInt(r.typeId), target: BigInt(r.typeId), validate: false });
    const targetId = target.find('task_struct', BtfKind.Struct)!.id;
    expect(resolved(resolveCoreRelo(local, target, relo('task_struct', '0', K.TypeIdTarget)))).toMatchObject({ local: BigInt(r.typeId), target: BigInt(targetId), validate: false, targetTypeId: targetId });
    expect(resolved(resolveCoreRelo(local, target, relo('missing_type', '0', K.TypeIdTarget))).target).toBe(0n);
    // Type id of an anonymous type: only the local id can be asked for.
    expect(resolveCoreRelo(local, target, relo('(anon)', '0', K.TypeIdLocal)).ok).toBe(true);
  });

  it('gives the field sizes a load/store is resized with', () => {
    expect(resolved(resolveCoreRelo(local, target, relo('sz', '0:0', K.FieldByteOffset)))).toMatchObject({ localSize: 8, targetSize: 4, sizeMismatch: false });
    expect(resolved(resolveCoreRelo(local, target, relo('sz', '0:1', K.FieldByteOffset)))).toMatchObject({ local: 8n, target: 4n, localSize: 8, targetSize: 4, sizeMismatch: true });
    expect(resolved(resolveCoreRelo(local, target, relo('sz', '0:2', K.FieldByteOffset)))).toMatchObject({ local: 16n, target: 8n, localSize: 8, targetSize: 8, sizeMismatch: false });
    expect(resolved(resolveCoreRelo(local, target, relo('sz', '0:3', K.FieldByteOffset)))).toMatchObject({ local: 24n, target: 16n, localSize: 8, targetSize: 16, sizeMismatch: false });
    // Array elements and bitfields: element size; none for a bitfield (its load is not clang's).
    expect(resolved(resolveCoreRelo(local, target, relo('arr_host', '0:1:2', K.FieldByteOffset)))).toMatchObject({ localSize: 4, targetSize: 4 });
    expect(resolved(resolveCoreRelo(local, target, relo('bf', '0:3', K.FieldByteOffset)))).toMatchObject({ localSize: 0, targetSize: 0 });
  });

  const FAILED: { why: string; root: string; access: string; kind: K; code: string; fatal: boolean }[] = [
    { why: 'a removed field', root: 'task_struct', access: '0:3', kind: K.FieldByteOffset, code: 'E_CORE_NOT_FOUND', fatal: false },
    { why: 'a field of a missing type', root: 'missing_type', access: '0:0', kind: K.FieldByteOffset, code: 'E_CORE_NOT_FOUND', fatal: false },
    { why: 'a field whose type changed kind (int -> pointer)', root: 'task_struct___ptr', access: '0:0', kind: K.FieldByteOffset, code: 'E_CORE_NOT_FOUND', fatal: false },
    { why: 'an index past the target array (arr[3] of int[2])', root: 'arr_small', access: '0:0:3', kind: K.FieldByteOffset, code: 'E_CORE_NOT_FOUND', fatal: false },
    { why: 'a missing enumerator\'s value', root: 'state', access: '5', kind: K.EnumvalValue, code: 'E_CORE_NOT_FOUND', fatal: false },
    { why: 'flavours at different offsets (dup.x at 0, dup___2.x at 4)', root: 'dup', access: '0:0', kind: K.FieldByteOffset, code: 'E_CORE_AMBIGUOUS', fatal: true },
    { why: 'flavours that agree on the size of x (4) but not on where it is', root: 'dup', access: '0:0', kind: K.FieldByteSize, code: 'E_CORE_AMBIGUOUS', fatal: true },
    { why: 'flavours of different sizes (8 and 16)', root: 'dup', access: '0', kind: K.TypeSize, code: 'E_CORE_AMBIGUOUS', fatal: true },
    { why: 'two compatible target types have two ids', root: 'same', access: '0', kind: K.TypeIdTarget, code: 'E_CORE_AMBIGUOUS', fatal: true },
    { why: 'a 60-bit field at bit 8 that no 64-bit load holds', root: 'bf_wide', access: '0:0', kind: K.FieldByteOffset, code: 'E_CORE_BITFIELD', fatal: true },
    { why: 'a member index the local struct does not have', root: 'task_struct', access: '0:9', kind: K.FieldByteOffset, code: 'E_CORE_BAD_RELO', fatal: true },
    { why: 'an index past the local array', root: 'arr_host', access: '0:1:4', kind: K.FieldByteOffset, code: 'E_CORE_BAD_RELO', fatal: true },
    { why: 'a path into an int', root: 'task_struct', access: '0:0:0', kind: K.FieldByteOffset, code: 'E_CORE_BAD_RELO', fatal: true },
    { why: 'a malformed access string', root: 'task_struct', access: '0::1', kind: K.FieldByteOffset, code: 'E_CORE_BAD_RELO', fatal: true },
    { why: 'a type relocation with a path', root: 'task_struct', access: '0:1', kind: K.TypeExists, code: 'E_CORE_BAD_RELO', fatal: true },
    { why: 'an enumerator index past the enum', root: 'state', access: '6', kind: K.EnumvalValue, code: 'E_CORE_BAD_RELO', fatal: true },
    { why: 'an enumerator relocation on a struct', root: 'task_struct', access: '0', kind: K.EnumvalExists, code: 'E_CORE_BAD_RELO', fatal: true },
    { why: 'the sign of an array element', root: 'arr_host', access: '0:1:2', kind: K.FieldSigned, code: 'E_CORE_UNSUPPORTED', fatal: true },
    { why: 'an anonymous root type', root: '(anon)', access: '0:0', kind: K.FieldByteOffset, code: 'E_CORE_UNSUPPORTED', fatal: true },
    { why: 'an unknown kind', root: 'task_struct', access: '0:0', kind: 13 as K, code: 'E_CORE_BAD_RELO', fatal: true },
  ];

  it.each(FAILED)('fails: $why ($code)', (c) => {
    const res = resolveCoreRelo(local, target, relo(c.root, c.access, c.kind));
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect({ code: res.code, fatal: res.fatal }).toEqual({ code: c.code, fatal: c.fatal });
    expect(res.reason.length).toBeGreaterThan(10);
  });

  it('a root type id outside the local BTF is a failure, not a throw', () => {
    expect(resolveCoreRelo(local, target, { insnOff: 0, typeId: 9999, accessStr: '0:0', kind: K.FieldByteOffset })).toMatchObject({ ok: false, code: 'E_CORE_BAD_RELO', fatal: true });
  });

  it('with a candidate cache, candidates that failed a relocation are pruned for the next, as libbpf does', () => {
    // dup.y exists only in dup___2; after it resolved, dup.x sees dup___2 alone (offset 4) instead of an ambiguity.
    const cache = new Map<number, number[]>();
    expect(resolved(resolveCoreRelo(local, target, relo('dup', '0:1', K.FieldByteOffset), { candidateCache: cache }))).toMatchObject({ local: 4n, target: 0n, candidates: 1 });
    expect(resolved(resolveCoreRelo(local, target, relo('dup', '0:0', K.FieldByteOffset), { candidateCache: cache }))).toMatchObject({ local: 0n, target: 4n, candidates: 1 });
    expect(cache.get(local.findAll('dup')[0])).toEqual([target.findAll('dup___2')[0]]);
    expect(resolveCoreRelo(local, target, relo('dup', '0:0', K.FieldByteOffset))).toMatchObject({ ok: false, code: 'E_CORE_AMBIGUOUS' });
    expect(resolved(resolveCoreRelo(local, target, relo('same', '0:0', K.FieldByteOffset)))).toMatchObject({ candidates: 2 });
  });

  it('essential names drop the last ___flavour only between non-underscores', () => {
    expect(['task_struct___old', 'task_struct', 'a___b___c', 'a____b', '___x', 'x___', 'x___5_10', 'sk___buff'].map(coreEssentialName))
      .toEqual(['task_struct', 'task_struct', 'a___b', 'a____b', '___x', 'x___', 'x', 'sk']);
  });
});

/** One 8-byte instruction: opcode, dst, src, off, imm. */
const ins = (op: number, dst = 0, src = 0, off = 0, imm = 0): number[] => {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  b[0] = op;
  b[1] = (src << 4) | dst;
  v.setInt16(2, off, true);
  v.setInt32(4, imm, true);
  return [...b];
};
const prog = (...insns: number[][]) => new Uint8Array(insns.flat());
const field = (code: Uint8Array, slot: number) => {
  const v = new DataView(code.buffer, code.byteOffset + slot * 8, 8);
  return { op: code[slot * 8], regs: code[slot * 8 + 1], off: v.getInt16(2, true), imm: v.getInt32(4, true) };
};
const POISON = { op: 0x85, regs: 0, off: 0, imm: CORE_POISON_IMM };

describe('patchCoreInsn', () => {
  const tgid = relo('task_struct', '0:1', K.FieldByteOffset);
  const tgidRes = resolveCoreRelo(local, target, tgid);

  it('patches the immediate of ALU/ALU64 and the offset of LDX/ST/STX', () => {
    const code = prog(ins(0x07, 1, 0, 0, 4), ins(0x61, 0, 1, 4), ins(0x62, 1, 0, 4, 7), ins(0x63, 1, 2, 4), ins(0xb4, 3, 0, 0, 4));
    for (let slot = 0; slot < 5; slot++) patchCoreInsn(code, slot, tgid, tgidRes);
    expect([0, 1, 2, 3, 4].map((s) => field(code, s))).toEqual([
      { op: 0x07, regs: 0x01, off: 0, imm: 44 }, // r1 += 44
      { op: 0x61, regs: 0x10, off: 44, imm: 0 }, // r0 = *(u32 *)(r1 + 44)
      { op: 0x62, regs: 0x01, off: 44, imm: 7 }, // *(u32 *)(r1 + 44) = 7
      { op: 0x63, regs: 0x21, off: 44, imm: 0 }, // *(u32 *)(r1 + 44) = r2
      { op: 0xb4, regs: 0x03, off: 0, imm: 44 }, // w3 = 44
    ]);
  });

  it('patches both halves of ld_imm64', () => {
    const r = relo('flags64', '0', K.EnumvalValue);
    const code = prog(ins(0x18, 1, 0, 0, 0), ins(0, 0, 0, 0, 1), ins(0x95));
    patchCoreInsn(code, 0, r, resolveCoreRelo(local, target, r));
    expect([field(code, 0).imm, field(code, 1).imm, field(code, 1).op]).toEqual([1, 2, 0]);
    expect(field(code, 2).op).toBe(0x95);
  });

  it('resizes a load to the target field (u64 -> u32 unsigned) and keeps its mode and class', () => {
    const r = relo('sz', '0:0', K.FieldByteOffset);
    const code = prog(ins(0x79, 2, 1, 0)); // r2 = *(u64 *)(r1 + 0)
    patchCoreInsn(code, 0, r, resolveCoreRelo(local, target, r));
    expect(field(code, 0)).toEqual({ op: 0x61, regs: 0x12, off: 0, imm: 0 }); // r2 = *(u32 *)(r1 + 0)
    const st = prog(ins(0x7b, 1, 2, 0)); // *(u64 *)(r1 + 0) = r2
    patchCoreInsn(st, 0, r, resolveCoreRelo(local, target, r));
    expect(field(st, 0).op).toBe(0x63);
  });

  it('poisons a load of a field whose resize would change the value (long -> int), but patches an ALU', () => {
    const r = relo('sz', '0:1', K.FieldByteOffset);
    const res = resolveCoreRelo(local, target, r);
    const code = prog(ins(0x79, 2, 1, 8), ins(0x07, 1, 0, 0, 8));
    patchCoreInsn(code, 0, r, res);
    patchCoreInsn(code, 1, r, res);
    expect(field(code, 0)).toEqual(POISON);
    expect(field(code, 1)).toEqual({ op: 0x07, regs: 1, off: 0, imm: 4 });
  });

  it('poisons a failed resolution (and both slots of an ld_imm64) without checking the instruction', () => {
    const prio = relo('task_struct', '0:3', K.FieldByteOffset);
    const res = resolveCoreRelo(local, target, prio);
    expect(res).toMatchObject({ ok: false, fatal: false });
    const code = prog(ins(0x61, 0, 1, 123), ins(0x18, 1, 0, 0, 16), ins(0, 0, 0, 0, 0), ins(0x95));
    patchCoreInsn(code, 0, prio, res);
    patchCoreInsn(code, 1, prio, res);
    expect([field(code, 0), field(code, 1), field(code, 2)]).toEqual([POISON, POISON, POISON]);
    expect(field(code, 3).op).toBe(0x95);
    expect(CORE_POISON_IMM).toBe(195896080);
  });

  it('skips the value check where libbpf does (bitfield offsets, target type ids)', () => {
    const b = relo('bf', '0:1', K.FieldByteOffset);
    const code = prog(ins(0x61, 0, 1, 2)); // clang might have loaded at another offset than we compute
    patchCoreInsn(code, 0, b, resolveCoreRelo(local, target, b));
    expect(field(code, 0).off).toBe(4);
    const id = relo('task_struct', '0', K.TypeIdTarget);
    const ld = prog(ins(0x18, 1, 0, 0, 77), ins(0));
    patchCoreInsn(ld, 0, id, resolveCoreRelo(local, target, id));
    expect(field(ld, 0).imm).toBe(target.find('task_struct', BtfKind.Struct)!.id);
  });

  const throws = (fn: () => void, code: string, insn: number) => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(CoreError);
      expect({ code: (e as CoreError).code, insn: (e as CoreError).insn }).toEqual({ code, insn });
      return e as CoreError;
    }
    throw new Error(`expected ${code}`);
  };

  it('refuses an instruction that does not hold the value clang emitted', () => {
    const e = throws(() => patchCoreInsn(prog(ins(0x95), ins(0x61, 0, 1, 8)), 1, tgid, tgidRes), 'E_CORE_INSN_VALUE', 1);
    expect({ expected: e.expected, got: e.got }).toEqual({ expected: 4n, got: 8n });
    throws(() => patchCoreInsn(prog(ins(0x07, 1, 0, 0, 5)), 0, tgid, tgidRes), 'E_CORE_INSN_VALUE', 0);
    const r = relo('flags64', '0', K.EnumvalValue);
    throws(() => patchCoreInsn(prog(ins(0x18, 1, 0, 0, 0), ins(0, 0, 0, 0, 2)), 0, r, resolveCoreRelo(local, target, r)), 'E_CORE_INSN_VALUE', 0);
  });

  it('refuses impossible patches with typed errors', () => {
    const far = relo('far', '0:0', K.FieldByteOffset);
    const farRes = resolved(resolveCoreRelo(local, target, far));
    expect(farRes.target).toBe(40000n);
    throws(() => patchCoreInsn(prog(ins(0x61, 0, 1, 0)), 0, far, farRes), 'E_CORE_OFFSET_RANGE', 0);
    const alu = prog(ins(0x07, 1, 0, 0, 0));
    patchCoreInsn(alu, 0, far, farRes); // an ALU immediate holds it
    expect(field(alu, 0).imm).toBe(40000);
    const big = relo('sz', '0:3', K.FieldByteOffset); // u64 -> unsigned __int128: no 16-byte load
    throws(() => patchCoreInsn(prog(ins(0x79, 0, 1, 24)), 0, big, resolveCoreRelo(local, target, big)), 'E_CORE_MEM_SIZE', 0);
    const u = relo('sz', '0:0', K.FieldByteOffset); // a u32 load of a u64 field: not what clang emits
    throws(() => patchCoreInsn(prog(ins(0x61, 0, 1, 0)), 0, u, resolveCoreRelo(local, target, u)), 'E_CORE_MEM_SIZE', 0);
    throws(() => patchCoreInsn(prog(ins(0x0f, 1, 2)), 0, tgid, tgidRes), 'E_CORE_INSN_FORM', 0); // r1 += r2
    throws(() => patchCoreInsn(prog(ins(0x15, 1, 0, 4, 4)), 0, tgid, tgidRes), 'E_CORE_INSN_FORM', 0); // a jump
    throws(() => patchCoreInsn(prog(ins(0x18, 1, 1, 0, 4), ins(0)), 0, tgid, tgidRes), 'E_CORE_INSN_FORM', 0); // ld_imm64 of a map fd
    throws(() => patchCoreInsn(prog(ins(0x18, 1, 0, 0, 4)), 0, tgid, tgidRes), 'E_CORE_INSN_FORM', 0); // half an ld_imm64
    throws(() => patchCoreInsn(prog(ins(0x95)), 3, tgid, tgidRes), 'E_CORE_INSN_RANGE', 3);
  });
});

const VMLINUX = '/sys/kernel/btf/vmlinux';
let vmlinuxBytes: Uint8Array | undefined;
let vmlinuxSkip = '';
try {
  vmlinuxBytes = readFileSync(VMLINUX);
} catch (e) {
  vmlinuxSkip = `${VMLINUX} is not readable (${(e as Error).message})`;
  console.log(`skipping the vmlinux CO-RE tests: ${vmlinuxSkip}`);
}

/** What a program built against an old vmlinux.h would carry: the fields it reads, at made-up offsets. */
function programBtf(): Btf {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  const uint = b.int('unsigned int', 4);
  const ushort = b.int('unsigned short', 2);
  const task = b.nextId;
  b.struct('task_struct', 16, [['pid', int, 0], ['tgid', int, 32], ['real_parent', task + 1, 64]]);
  b.ptr(task);
  const common = b.struct('sock_common', 8, [['skc_daddr', b.typedef('__be32', b.typedef('__u32', uint)), 0], ['skc_dport', b.typedef('__be16', b.typedef('__u16', ushort)), 32]]);
  b.struct('sock', 8, [['__sk_common', common, 0]]);
  b.struct('sk_buff', 4, [['len', uint, 0]]);
  b.struct('task_struct___nope', 4, [['no_such_field_in_any_kernel', int, 0]]);
  // Deliberately wrong local values: the target's must be the UAPI numbers.
  b.enum('bpf_map_type', 4, [['BPF_MAP_TYPE_HASH', 0], ['BPF_MAP_TYPE_ARRAY', 0], ['BPF_MAP_TYPE_RINGBUF', 0]]);
  return Btf.parse(b.build());
}

describe.skipIf(!vmlinuxBytes)(`resolveCoreRelo against the running kernel's ${VMLINUX}`, () => {
  const vmlinux = vmlinuxBytes ? Btf.parse(vmlinuxBytes) : undefined!;
  const prog = vmlinuxBytes ? programBtf() : undefined!;
  const at = (root: string, accessStr: string, kind = K.FieldByteOffset): CoreRelo => ({ insnOff: 0, typeId: prog.findAll(root)[0], accessStr, kind });
  const RELOS: [root: string, access: string, structName: string, path: string][] = [
    ['task_struct', '0:0', 'task_struct', 'pid'],
    ['task_struct', '0:1', 'task_struct', 'tgid'],
    ['task_struct', '0:2', 'task_struct', 'real_parent'],
    ['sock', '0:0:1', 'sock', '__sk_common.skc_dport'],
    ['sock', '0:0:0', 'sock', '__sk_common.skc_daddr'],
    ['sk_buff', '0:0', 'sk_buff', 'len'],
  ];

  it('resolves task_struct.pid/tgid/real_parent, sock.__sk_common.skc_dport/skc_daddr, sk_buff.len to the member offsets', () => {
    for (const [root, access, structName, path] of RELOS) {
      const res = resolved(resolveCoreRelo(prog, vmlinux, at(root, access)));
      // Btf.memberOffset walks names through anonymous members on its own: the two must agree.
      const m = vmlinux.memberOffset(structName, path)!;
      expect(m, `${structName}.${path}`).toBeDefined();
      expect({ what: `${structName}.${path}`, target: res.target, size: res.targetSize }).toEqual({ what: `${structName}.${path}`, target: BigInt(m.offset), size: m.size });
    }
  });

  it('holds the invariants of the kernel layout', () => {
    const r = (root: string, access: string, kind = K.FieldByteOffset) => resolved(resolveCoreRelo(prog, vmlinux, at(root, access, kind)));
    const pid = r('task_struct', '0:0'), tgid = r('task_struct', '0:1');
    expect(tgid.target - pid.target).toBe(4n); // pid_t pid; pid_t tgid; adjacent since 2.6
    expect([pid.targetSize, tgid.targetSize, r('task_struct', '0:2').targetSize]).toEqual([4, 4, 8]);
    expect(r('task_struct', '0:0', K.FieldSigned).target).toBe(1n);
    expect(r('sock', '0:0:1', K.FieldByteSize).target).toBe(2n);
    expect(r('sock', '0:0:1', K.FieldSigned).target).toBe(0n);
    // In the kernel both sit in anonymous structs inside anonymous unions of sock_common.
    expect(r('sock', '0:0:1').targetAccess.split(':').length).toBeGreaterThan(3);
    expect(r('sock', '0:0:0').targetAccess.split(':').length).toBeGreaterThan(3);
    const ts = vmlinux.find('task_struct', BtfKind.Struct)!;
    expect(r('task_struct', '0', K.TypeSize).target).toBe(BigInt(ts.size));
    expect(r('task_struct', '0', K.TypeIdTarget).target).toBe(BigInt(ts.id));
    expect(r('task_struct___nope', '0:0', K.FieldExists).target).toBe(0n);
    expect(resolveCoreRelo(prog, vmlinux, at('task_struct___nope', '0:0'))).toMatchObject({ ok: false, fatal: false, code: 'E_CORE_NOT_FOUND' });
    // UAPI numbering (include/uapi/linux/bpf.h) is an independent source for enumerator values.
    expect(['0', '1', '2'].map((i) => r('bpf_map_type', i, K.EnumvalValue).target)).toEqual([1n, 2n, 27n]);
  });

  it('patches a load of tgid to the kernel offset', () => {
    const relo = at('task_struct', '0:1');
    const code = new Uint8Array(ins(0x61, 0, 1, 4));
    patchCoreInsn(code, 0, relo, resolveCoreRelo(prog, vmlinux, relo));
    expect(BigInt(field(code, 0).off)).toBe(BigInt(vmlinux.memberOffset('task_struct', 'tgid')!.offset));
  });

  it('resolves 100 relocations against one target, its name index built once (the timings are printed, not asserted)', () => {
    const fresh = Btf.parse(vmlinuxBytes!);
    const relos = Array.from({ length: 100 }, (_, i) => RELOS[i % RELOS.length]).map(([root, access]) => at(root, access));
    const t0 = performance.now();
    resolveCoreRelo(prog, fresh, relos[0]);
    const t1 = performance.now();
    for (const r of relos) expect(resolveCoreRelo(prog, fresh, r).ok).toBe(true);
    const t2 = performance.now();
    console.log(`vmlinux: ${fresh.types.length} types; first relocation (builds the index) ${(t1 - t0).toFixed(1)} ms, 100 more ${(t2 - t1).toFixed(1)} ms`);
  });
});

/** A random small BTF: references may dangle or loop, names share essential names, bitfields may be absurd. */
const NAMES = ['', 'a', 'b', 'a___1', 'a___x', 'task', 'task___old', 'x', 'y', '___', 'a____b'];
const arbName = fc.constantFrom(...NAMES);
const arbRef = fc.nat(14);
const arbType = fc.oneof(
  fc.record({ k: fc.constant('int' as const), name: arbName, size: fc.constantFrom(0, 1, 2, 4, 8, 16), signed: fc.boolean(), offset: fc.constantFrom(0, 0, 0, 3) }),
  fc.record({ k: fc.constant('ptr' as const), to: arbRef }),
  fc.record({ k: fc.constant('array' as const), to: arbRef, n: fc.nat(5) }),
  { weight: 4, arbitrary: fc.record({ k: fc.constantFrom('struct' as const, 'union' as const), name: arbName, size: fc.nat(64), members: fc.array(fc.tuple(arbName, arbRef, fc.nat(600), fc.constantFrom(0, 0, 1, 5, 33, 64, 100)), { maxLength: 5 }) }) },
  fc.record({ k: fc.constantFrom('enum' as const, 'enum64' as const), name: arbName, size: fc.constantFrom(1, 4, 8), signed: fc.boolean(), values: fc.array(fc.tuple(arbName, fc.integer({ min: -3, max: 3 })), { maxLength: 4 }) }),
  fc.record({ k: fc.constantFrom('typedef' as const, 'const' as const, 'volatile' as const), name: arbName, to: arbRef }),
  fc.record({ k: fc.constant('fwd' as const), name: arbName, union: fc.boolean() }),
  fc.record({ k: fc.constant('proto' as const), ret: arbRef, params: fc.array(arbRef, { maxLength: 3 }) }),
  fc.record({ k: fc.constant('float' as const), name: arbName, size: fc.constantFrom(4, 8) }),
);
type ArbType = typeof arbType extends fc.Arbitrary<infer T> ? T : never;

function buildRandom(types: ArbType[]): Btf {
  const b = new BtfBuilder();
  for (const t of types) {
    switch (t.k) {
      case 'int': b.int(t.name, t.size, t.signed, { offset: t.offset, bits: Math.min(t.size * 8, 128) }); break;
      case 'ptr': b.ptr(t.to); break;
      case 'array': b.array(t.to, t.n); break;
      case 'struct': case 'union': b.struct(t.name, t.size, t.members, t.k === 'union'); break;
      case 'enum': b.enum(t.name, t.size, t.values, t.signed); break;
      case 'enum64': b.enum64(t.name, t.size, t.values.map(([n, v]) => [n, BigInt(v)]), t.signed); break;
      case 'typedef': b.typedef(t.name || 't', t.to); break;
      case 'const': b.qual(BtfKind.Const, t.to); break;
      case 'volatile': b.qual(BtfKind.Volatile, t.to); break;
      case 'fwd': b.fwd(t.name, t.union); break;
      case 'proto': b.funcProto(t.ret, t.params); break;
      case 'float': b.float(t.name, t.size); break;
    }
  }
  return Btf.parse(b.build());
}

describe('resolveCoreRelo/patchCoreInsn on random input', () => {
  it('property: random relocations against random small BTFs give a resolution or a typed error, and finish', () => {
    const arbRelo = fc.record({
      insnOff: fc.nat(4).map((n) => n * 8),
      typeId: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 6 }) }, fc.nat(14)),
      accessStr: fc.oneof(
        { weight: 4, arbitrary: fc.array(fc.nat(2), { minLength: 1, maxLength: 4 }).map((a) => ['0', ...a].join(':')) },
        fc.array(fc.nat(6), { minLength: 1, maxLength: 8 }).map((a) => a.join(':')),
        fc.constantFrom('0', '', ':0', '0:', '-1', '0:99999999999'),
        fc.string({ maxLength: 6 }),
      ),
      kind: fc.oneof({ weight: 6, arbitrary: fc.nat(12) }, fc.nat(14)) as fc.Arbitrary<K>,
      fit: fc.boolean(),
    }).map(({ fit, ...r }) => {
      // Half the time, an access string of the shape the kind wants, so most records get past parsing.
      if (!fit) return r;
      if (r.kind >= K.TypeIdLocal && r.kind <= K.TypeSize || r.kind === K.TypeMatches) return { ...r, accessStr: '0' };
      if (r.kind === K.EnumvalExists || r.kind === K.EnumvalValue) return { ...r, accessStr: r.accessStr.split(':').pop() || '0' };
      return r;
    });
    let resolvedCount = 0;
    fc.assert(
      fc.property(fc.array(arbType, { minLength: 6, maxLength: 12 }), fc.array(arbType, { minLength: 6, maxLength: 12 }), fc.array(arbRelo, { minLength: 1, maxLength: 4 }), fc.uint8Array({ minLength: 8, maxLength: 40 }), (lt, tt, relos, code) => {
        const l = buildRandom(lt), t = buildRandom(tt);
        const cache = new Map<number, number[]>();
        for (const r of relos) {
          for (const res of [resolveCoreRelo(l, t, r), resolveCoreRelo(l, t, r, { candidateCache: cache }), resolveCoreRelo(l, l, r)]) {
            if (res.ok) {
              resolvedCount++;
              for (const v of [res.local, res.target]) expect(v >= 0n && v < 1n << 64n).toBe(true);
            } else {
              expect(res.code).toMatch(/^E_CORE_/);
            }
            try {
              patchCoreInsn(code.slice(), r.insnOff / 8, r, res);
            } catch (e) {
              expect(e).toBeInstanceOf(CoreError);
              expect(e).toBeInstanceOf(TsbpfError);
            }
          }
        }
      }),
      { numRuns: 20_000 },
    );
    expect(resolvedCount).toBeGreaterThan(5_000);
  });

  it('a deep chain of anonymous members and self-referencing types ends in a failure, not a hang', () => {
    // struct a { struct a; } through anonymous members, and a 40-deep chain of anonymous structs.
    const b = new BtfBuilder();
    const int = b.int('int', 4, true);
    const self = b.nextId;
    b.struct('a', 4, [['', self, 0], ['', self, 0]]);
    let inner = b.struct('', 4, [['deep', int, 0]]);
    for (let i = 0; i < 40; i++) inner = b.struct('', 4, [['', inner, 0], ['', inner, 0]]);
    b.struct('b', 4, [['', inner, 0]]);
    const t = Btf.parse(b.build());
    const l = new BtfBuilder();
    const lint = l.int('int', 4, true);
    l.struct('a', 4, [['deep', lint, 0]]);
    l.struct('b', 8, [['deep', lint, 0], ['nope', lint, 32]]);
    const lb = Btf.parse(l.build());
    expect(resolveCoreRelo(lb, t, { insnOff: 0, typeId: 2, accessStr: '0:0', kind: K.FieldByteOffset })).toMatchObject({ ok: false, code: 'E_CORE_BAD_RELO', fatal: true });
    expect(resolved(resolveCoreRelo(lb, t, { insnOff: 0, typeId: 3, accessStr: '0:0', kind: K.FieldByteOffset })).targetAccess.split(':').length).toBe(43);
    // 2^40 paths to search for a member that is not there: the work budget stops it.
    expect(resolveCoreRelo(lb, t, { insnOff: 0, typeId: 3, accessStr: '0:1', kind: K.FieldByteOffset })).toMatchObject({ ok: false, code: 'E_CORE_BAD_BTF', fatal: true });
  });
});

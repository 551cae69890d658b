// Bad input: malformed bytecode, wrong map references, truncated lddw, nonsense program types and
// options. verify() answers each with a typed error (a stable code, the slot index where there is
// one, the kernel's message) and never throws. Where the kernel is reachable, the same bytecode is
// loaded there and must be refused with the same message.
import { describe, expect, it } from 'vitest';
import { ProgType, VerifierError, decode } from '@tsbpf/core';
import { loadProgram, probe } from '@tsbpf/kernel';
import { verify } from './verify.js';
import type { VerifyOptions } from './types.js';

const kernel = probe();
if (!kernel.ok) console.log(`bad input: kernel comparison skipped: ${kernel.reason}`);

/** Slots in the kernel's encoding: op, regs (src << 4 | dst), off (LE 16), imm (LE 32). */
function slot(op: number, dst = 0, src = 0, off = 0, imm = 0): number[] {
  return [op, (src << 4) | dst, off & 0xff, (off >> 8) & 0xff, imm & 0xff, (imm >> 8) & 0xff, (imm >> 16) & 0xff, (imm >>> 24) & 0xff];
}
const bytes = (...slots: number[][]) => Uint8Array.from(slots.flat());
const MOV0 = slot(0xb7);
const EXIT = slot(0x95);
const socket: VerifyOptions = { progType: 'socket_filter' };

interface BytecodeCase {
  name: string;
  program: Uint8Array;
  /** The kernel's message (kernel/bpf/verifier.c). */
  message: string;
  /** The slot the kernel's error names. */
  insn: number;
}

// Malformed programs the kernel itself refuses: verdicts with its messages.
const BYTECODE: BytecodeCase[] = [
  { name: 'unknown opcode', program: bytes(slot(0xff), EXIT), message: 'unknown opcode ff', insn: 0 },
  // check_subprogs runs before the lddw checks: a program cut in the middle of an lddw ends badly
  { name: 'truncated lddw (first slot last)', program: bytes(MOV0, slot(0x18, 1)), message: 'last insn is not an exit or jmp', insn: 1 },
  { name: 'truncated lddw before exit', program: bytes(slot(0x18, 1), EXIT), message: 'invalid bpf_ld_imm64 insn', insn: 0 },
  { name: 'lddw second slot with registers', program: bytes(slot(0x18, 1), slot(0, 1), MOV0, EXIT), message: 'invalid bpf_ld_imm64 insn', insn: 0 },
  { name: 'lddw with an unknown pseudo source', program: bytes(slot(0x18, 1, 7), slot(0), MOV0, EXIT), message: 'unrecognized bpf_ld_imm64 insn', insn: 0 },
  { name: 'lddw naming a map fd that is not one', program: bytes(slot(0x18, 1, 1, 0, 9999), slot(0), MOV0, EXIT), message: 'fd 9999 is not pointing to valid bpf_map', insn: 0 },
  { name: 'jump out of range', program: bytes(slot(0x05, 0, 0, 5), MOV0, EXIT), message: 'jump out of range from insn 0 to 6', insn: 0 },
  { name: 'falling off the end', program: bytes(MOV0), message: 'last insn is not an exit or jmp', insn: 0 },
  { name: 'call to a bad local target', program: bytes(slot(0x85, 0, 1, 0, 5), MOV0, EXIT), message: 'call to invalid destination', insn: 0 },
  { name: 'jump into the middle of an lddw', program: bytes(MOV0, slot(0x15, 0, 0, 1), slot(0x18, 1), slot(0), EXIT), message: 'jump into the middle of ldimm64 insn 2', insn: 1 },
  { name: 'an lddw only jumped into', program: bytes(slot(0x05, 0, 0, 1), slot(0x18, 1), slot(0), MOV0, EXIT), message: 'unreachable insn 1', insn: 1 },
  { name: 'LDX with reserved imm', program: bytes(slot(0x61, 0, 1, 0, 1), EXIT), message: 'BPF_LDX uses reserved fields', insn: 0 },
];

describe('malformed bytecode: the kernel verdict and message, never an exception', () => {
  for (const c of BYTECODE) {
    it(c.name, () => {
      const r = verify(c.program, socket);
      expect(r.ok).toBe(false);
      expect(r.error?.code).toBe('E_VERIFIER_REJECT');
      expect(r.error?.message).toBe(c.message);
      expect(r.error?.insn).toBe(c.insn);
      expect(r.log).toContain(c.message);
      if (!kernel.ok) return;
      let refused: unknown;
      try {
        loadProgram({ insns: decode(c.program), progType: ProgType.SocketFilter, logLevel: 1 }).close();
      } catch (e) {
        refused = e;
      }
      expect(refused).toBeInstanceOf(VerifierError);
      expect((refused as VerifierError).log).toContain(c.message);
    });
  }
});

describe('unusable input: E_VERIFIER_INPUT with a message a person can act on', () => {
  const ok = bytes(MOV0, EXIT);
  const mapRef = bytes(slot(0x18, 1, 1, 0, 3), slot(0), MOV0, EXIT);
  const cases: { name: string; program: unknown; options: unknown; message: RegExp; insn?: number }[] = [
    { name: 'no bytes', program: new Uint8Array(), options: socket, message: /empty program/ },
    { name: 'a partial slot', program: new Uint8Array(13), options: socket, message: /13 is not a multiple of 8/ },
    { name: 'not a program', program: 'r0 = 0', options: socket, message: /Uint8Array of 8-byte slots or an array of instructions/ },
    { name: 'an instruction with a 5-bit register', program: [{ op: 0xb7, dst: 20, src: 0, off: 0, imm: 0 }], options: socket, message: /^insn 0: not an instruction/, insn: 0 },
    { name: 'no options', program: ok, options: undefined, message: /options must be an object/ },
    { name: 'a program type name that does not exist', program: ok, options: { progType: 'BPF_PROG_TYPE_NONSENSE' }, message: /unknown program type BPF_PROG_TYPE_NONSENSE/ },
    { name: 'a program type number past the last', program: ok, options: { progType: 999 }, message: /unknown program type 999/ },
    { name: 'a negative program type', program: ok, options: { progType: -1 }, message: /unknown program type -1/ },
    { name: 'NaN as program type', program: ok, options: { progType: Number.NaN }, message: /unknown program type NaN/ },
    { name: 'an attach type that does not exist', program: ok, options: { progType: 'xdp', expectedAttachType: 'BPF_NOPE' }, message: /unknown attach type BPF_NOPE/ },
    { name: 'maps that are not a list', program: ok, options: { progType: 'xdp', maps: 5 }, message: /maps must be an array/ },
    { name: 'a map of unknown type', program: mapRef, options: { ...socket, maps: [{ fd: 3, type: 9999, keySize: 4, valueSize: 8, maxEntries: 1 }] }, message: /maps\[0\]: unknown map type 9999/ },
    { name: 'a hash map without a key', program: mapRef, options: { ...socket, maps: [{ fd: 3, type: 1, keySize: 0, valueSize: 8, maxEntries: 1 }] }, message: /maps\[0\]: BPF_MAP_TYPE_HASH needs non-zero keySize/ },
    { name: 'an array map with 8-byte keys', program: mapRef, options: { ...socket, maps: [{ fd: 3, type: 2, keySize: 8, valueSize: 8, maxEntries: 1 }] }, message: /maps\[0\]: BPF_MAP_TYPE_ARRAY needs keySize 4 \(got 8\)/ },
    { name: 'a negative value size', program: mapRef, options: { ...socket, maps: [{ fd: 3, type: 1, keySize: 4, valueSize: -8, maxEntries: 1 }] }, message: /maps\[0\]: valueSize -8 is not a 32-bit unsigned integer/ },
    { name: 'func_info that is not a list', program: ok, options: { ...socket, funcs: {} }, message: /funcs must be an array/ },
    { name: 'func_info without an instruction index', program: ok, options: { ...socket, funcs: [{ returnsVoid: false }] }, message: /funcs\[0\]: needs a non-negative integer insn/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = verify(c.program as Uint8Array, c.options as VerifyOptions);
      expect(r.ok).toBe(false);
      expect(r.error?.code).toBe('E_VERIFIER_INPUT');
      expect(r.error?.errno).toBe(22);
      expect(r.error?.message).toMatch(c.message);
      expect(r.error?.insn).toBe(c.insn);
    });
  }
});

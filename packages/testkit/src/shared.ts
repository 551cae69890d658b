import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConformanceData, type ConformanceTest } from '@tsbpf/core';

/** `../shared` beside the repository. */
export const sharedRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared');

/** Absolute path under ../shared. */
export const sharedPath = (...parts: string[]): string => resolve(sharedRoot, ...parts);

/** Whether a path under ../shared exists (printing why not, for the skip message). */
export function hasShared(...parts: string[]): boolean {
  const ok = existsSync(sharedPath(...parts));
  if (!ok) console.log(`skipping: ${sharedPath(...parts)} is not present (CI puts ../shared beside the checkout)`);
  return ok;
}

/** The 313 bpf_conformance programs, sorted by file name. */
export function loadConformanceSuite(): ConformanceTest[] {
  const dir = sharedPath('conformance', 'tests');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.data'))
    .sort()
    .map((f) => parseConformanceData(readFileSync(resolve(dir, f), 'utf8'), f));
}

/** A benchmark program of ../shared/bench: its source and what it needs. */
export interface BenchProgram {
  name: string;
  source: string;
  /** Reads `.include` files relative to ../shared/bench. */
  readFile: (p: string) => string;
  /** Needs the hash map of hash1000 (the `lddw 0x5a5a5a5a` marker). */
  usesHashMap: boolean;
}

/** The benchmark programs (null, alu200, csum1500, hash1000, loop100k, loop1m, loop1m_const). */
export function loadBenchPrograms(): BenchProgram[] {
  const dir = sharedPath('bench');
  if (!existsSync(dir)) return [];
  const readFile = (p: string) => readFileSync(resolve(dir, p), 'utf8');
  return ['null', 'alu200', 'csum1500', 'hash1000', 'loop100k', 'loop1m', 'loop1m_const']
    .filter((n) => existsSync(resolve(dir, `${n}.s`)))
    .map((name) => ({ name, source: readFile(`${name}.s`), readFile, usesHashMap: name === 'hash1000' }));
}

/** The benchmark input packet (1500 bytes). */
export function benchPacket(): Uint8Array {
  return new Uint8Array(readFileSync(sharedPath('bench', 'packet.bin')));
}

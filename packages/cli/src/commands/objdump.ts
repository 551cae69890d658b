import type { Command } from 'commander';
import { attachTypeName, mapTypeName, objdumpListing, progTypeName, SectionType } from '@tsbpf/core';
import type { CliIo } from '../io.js';
import { CliExit } from '../io.js';
import { isElf, openObjectFile } from '../object-run.js';

const SECTION_TYPES: Record<number, string> = { 0: 'NULL', 1: 'PROGBITS', 2: 'SYMTAB', 3: 'STRTAB', 4: 'RELA', 8: 'NOBITS', 9: 'REL' };
const CORE_KINDS = ['field_byte_offset', 'field_byte_size', 'field_exists', 'field_signed', 'field_lshift_u64', 'field_rshift_u64', 'type_id_local', 'type_id_target', 'type_exists', 'type_size', 'enumval_exists', 'enumval_value', 'type_matches'];
const RELOC_TYPES: Record<number, string> = { 0: 'R_BPF_NONE', 1: 'R_BPF_64_64', 2: 'R_BPF_64_ABS64', 3: 'R_BPF_64_ABS32', 4: 'R_BPF_64_NODYLD32', 10: 'R_BPF_64_32' };

/** `tsbpf objdump FILE.o`: sections, maps, programs and relocations of an object, then each program's linked code. */
export function register(program: Command, io: CliIo): void {
  program
    .command('objdump')
    .description('list the sections, maps, programs and relocations of a BPF ELF object, and disassemble its programs with their C source lines (.BTF.ext line_info)')
    .argument('<file>', 'a BPF ELF object (clang -target bpf -c)')
    .option('--no-disassemble', 'headers only')
    .action((file: string, opts: { disassemble: boolean }) => {
      const bytes = io.readFile(file);
      if (!isElf(bytes)) throw new CliExit(`${file}: error: not an ELF object [E_ELF_MAGIC]`, 1);
      const obj = openObjectFile(file, bytes);
      const f = obj.elf;
      const out: string[] = [];
      out.push(`${file}: ELF64 ${f.littleEndian ? 'little' : 'big'} endian BPF object, license "${obj.license}"${obj.version !== undefined ? `, version ${obj.version}` : ''}`, '');
      out.push('Sections:');
      for (const s of f.sections) {
        if (s.index === 0) continue;
        out.push(`  [${String(s.index).padStart(2)}] ${s.name.padEnd(40)} ${(SECTION_TYPES[s.type] ?? `0x${s.type.toString(16)}`).padEnd(9)} ${String(s.size).padStart(7)} bytes${s.flags & 4 ? '  code' : ''}`);
      }
      out.push('', 'Maps:');
      for (const m of obj.maps) {
        out.push(`  ${m.name.padEnd(20)} ${(mapTypeName(m.spec.type) ?? String(m.spec.type)).padEnd(28)} key ${m.spec.keySize} value ${m.spec.valueSize} max_entries ${m.spec.maxEntries}${m.spec.flags ? ` flags 0x${m.spec.flags.toString(16)}` : ''}${m.spec.mapExtra ? ` map_extra ${m.spec.mapExtra}` : ''}  (${m.kind === 'data' ? 'global data' : m.kind === 'btf' ? 'BTF .maps' : 'legacy maps'})`);
        const inner = m.spec.innerMap;
        if (inner) out.push(`    inner map: ${mapTypeName(inner.type) ?? inner.type} key ${inner.keySize} value ${inner.valueSize} max_entries ${inner.maxEntries}`);
        if (m.pinning) out.push(`    pinning: ${m.pinning === 1 ? 'LIBBPF_PIN_BY_NAME' : m.pinning}`);
        for (const v of m.initialSlots ?? []) out.push(`    [${v.index}] = ${v.kind} ${v.target}`);
        for (const k of m.kconfig ?? []) out.push(`    +${k.offset} ${k.name} (${k.type}, ${k.size} bytes${k.weak ? ', __weak' : ''})`);
      }
      out.push('', 'Programs:');
      for (const p of obj.programs) {
        const attach = p.expectedAttachType !== undefined ? ` ${attachTypeName(p.expectedAttachType)}` : '';
        out.push(`  ${p.name.padEnd(20)} SEC("${p.section}")  ${progTypeName(p.progType)}${attach}${p.target ? ` -> ${p.target}` : ''}  ${p.code.length / 8} slots, ${p.refs.length} map references${p.coreRelos.length ? `, ${p.coreRelos.length} CO-RE relocations` : ''}${p.externs.length ? `, externs ${p.externs.map((e) => e.name).join(' ')}` : ''}`);
      }
      out.push('', 'Relocations:');
      for (const [target, list] of f.relocations) {
        const sec = f.sections[target];
        if (sec.name.startsWith('.debug') || sec.name.startsWith('.BTF')) continue;
        for (const r of list) {
          const sym = f.symbols[r.symbol];
          const name = sym.name || (sym.type === 3 ? f.sections[sym.shndx]?.name : '') || `symbol ${r.symbol}`;
          out.push(`  ${sec.name}+0x${r.offset.toString(16).padStart(4, '0')}  ${(RELOC_TYPES[r.type] ?? String(r.type)).padEnd(14)} ${name}`);
        }
      }
      if (opts.disassemble) {
        for (const p of obj.programs) {
          out.push('');
          const refs = new Map(p.refs.map((r) => [r.slot, r]));
          const lines = new Map(p.lineInfo.map((l) => [l.slot, l]));
          const funcs = new Map(p.funcInfo.map((fi) => [fi.slot, obj.btf?.type(fi.typeId).name ?? '']));
          const core = new Map(p.coreRelos.map((c) => [c.slot, c]));
          const externs = new Map(p.externs.map((e) => [e.slot, e]));
          let lastLine = '';
          out.push(objdumpListing(p.insns, {
            section: `${p.section} (${p.name}, linked)`,
            annotate: (slot) => {
              // As llvm-objdump -S does: the C line (from .BTF.ext line_info) before its first instruction.
              const notes: string[] = [];
              const fn = funcs.get(slot);
              // llvm-objdump's symbol line: the byte offset in hex
              if (fn !== undefined && slot > 0) notes.push('', `${(slot * 8).toString(16).padStart(16, '0')} <${fn}>:`);
              const l = lines.get(slot);
              if (l && `${l.lineNum}:${l.line}` !== lastLine) {
                notes.push(`; ${l.line.trim()}  [${l.fileName.replace(/^.*\//, '')}:${l.lineNum}]`);
                lastLine = `${l.lineNum}:${l.line}`;
              }
              const r = refs.get(slot);
              if (r) notes.push(`\t\t; ${r.kind === 'fd' ? 'map' : 'global data'} ${obj.maps[r.map].name}${r.kind === 'value' && r.offset ? ` + ${r.offset}` : ''}`);
              const c = core.get(slot);
              if (c) notes.push(`\t\t; CO-RE ${CORE_KINDS[c.kind] ?? c.kind} ${obj.btf?.type(c.typeId).name || `type ${c.typeId}`} access ${c.accessStr}`);
              const e = externs.get(slot);
              if (e) notes.push(`\t\t; ${e.kind} ${e.name} (resolved by the kernel)`);
              return notes;
            },
          }).trimEnd());
        }
      }
      void SectionType;
      io.stdout(`${out.join('\n')}\n`);
    });
}

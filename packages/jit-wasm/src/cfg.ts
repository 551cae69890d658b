import type { SlotLayout } from '@tsbpf/core';

/**
 * The control-flow graph of one eBPF function (the code reachable from one entry slot without
 * following calls), its reverse postorder, dominator tree and loop structure: what the
 * structuring in compile.ts needs.
 */

/** What ends a basic block. */
export const enum Term {
  /** Falls into the next block (which starts at `end`). */
  Fall,
  /** `ja`: one successor. */
  Jump,
  /** A conditional jump: `succ[0]` taken, `succ[1]` not taken. */
  Cond,
  Exit,
  /** An invalid instruction at `end - 1`. */
  Invalid,
}

/** A program as the JIT sees it: one entry per 8-byte slot. */
export type SlotProgram = SlotLayout;

/** A successor that leaves the program: a jump outside it. `code` is the trap kind, `pc` the slot. */
export interface TrapEdge {
  pc: number;
  fellOff: boolean;
}

export interface Block {
  start: number;
  /** One past the last slot. */
  end: number;
  term: Term;
  /** Successor blocks (>= 0) or trap edges (-1 - index into {@link Cfg.traps}). */
  succ: number[];
  preds: number[];
}

export interface Cfg {
  blocks: Block[];
  traps: TrapEdge[];
  /** Blocks in reverse postorder; `rpo[b]` is the position of block b in it. */
  order: number[];
  rpo: Int32Array;
  /** Immediate dominator of each block (the entry's is itself). */
  idom: Int32Array;
  /** Dominator tree children, in reverse postorder. */
  children: number[][];
  /** Blocks with a back edge into them. */
  loopHeader: Uint8Array;
  /** Blocks with two or more forward edges into them. */
  merge: Uint8Array;
  /** Whether every retreating edge goes to a block that dominates its source. */
  reducible: boolean;
  /** Depth of the dominator tree. */
  depth: number;
}

const JA = 0x05;
const JA32 = 0x06;
const EXIT = 0x95;
const LDDW = 0x18;
const MAY_GOTO = 0xe5;

/** Whether the slot's instruction is a conditional jump (JMP or JMP32 class, not ja/call/exit/may_goto). */
export function isCondJump(op: number): boolean {
  const cls = op & 7;
  if (cls !== 5 && cls !== 6) return false;
  const code = op & 0xf0;
  return code !== 0x00 && code !== 0x80 && code !== 0x90 && code !== 0xe0;
}

/** Where a jump at `s` goes. */
function jumpTarget(p: SlotProgram, s: number): number {
  return p.op[s] === JA32 ? s + 1 + p.imm[s] : s + 1 + p.off[s];
}

/** Marks reachable slots and block leaders from `entry`. */
function scan(p: SlotProgram, entry: number, visited: Uint8Array, leader: Uint8Array): number[] {
  const leaders: number[] = [];
  const mark = (t: number) => {
    if (t >= 0 && t < p.n && !leader[t]) {
      leader[t] = 1;
      leaders.push(t);
    }
  };
  mark(entry);
  const stack = [entry];
  while (stack.length) {
    let s = stack.pop()!;
    while (s >= 0 && s < p.n) {
      if (visited[s]) {
        mark(s);
        break;
      }
      visited[s] = 1;
      if (!p.valid[s]) break;
      const op = p.op[s];
      if (op === EXIT) break;
      if (op === JA || op === JA32) {
        const t = jumpTarget(p, s);
        mark(t);
        stack.push(t);
        break;
      }
      if (isCondJump(op)) {
        const t = jumpTarget(p, s);
        mark(t);
        stack.push(t);
        mark(s + 1);
      }
      s += op === LDDW ? 2 : 1;
    }
  }
  return leaders.sort((a, b) => a - b);
}

/**
 * Builds the CFG of the function entered at `entry`. `visited` and `leader` are scratch arrays
 * of `p.n` zeroes, returned zeroed.
 */
export function buildCfg(p: SlotProgram, entry: number, visited: Uint8Array, leader: Uint8Array): Cfg {
  const leaders = scan(p, entry, visited, leader);
  const blockAt = new Map<number, number>();
  leaders.forEach((l, i) => blockAt.set(l, i));
  const traps: TrapEdge[] = [];
  const edge = (t: number): number => {
    if (t >= 0 && t < p.n) return blockAt.get(t)!;
    traps.push({ pc: t, fellOff: t >= p.n });
    return -traps.length;
  };
  const blocks: Block[] = leaders.map((start) => {
    let s = start;
    for (;;) {
      if (s >= p.n) return { start, end: s, term: Term.Fall, succ: [edge(s)], preds: [] };
      if (s !== start && leader[s]) return { start, end: s, term: Term.Fall, succ: [edge(s)], preds: [] };
      if (!p.valid[s]) return { start, end: s + 1, term: Term.Invalid, succ: [], preds: [] };
      const op = p.op[s];
      if (op === EXIT) return { start, end: s + 1, term: Term.Exit, succ: [], preds: [] };
      if (op === JA || op === JA32) return { start, end: s + 1, term: Term.Jump, succ: [edge(jumpTarget(p, s))], preds: [] };
      if (isCondJump(op)) return { start, end: s + 1, term: Term.Cond, succ: [edge(jumpTarget(p, s)), edge(s + 1)], preds: [] };
      s += op === LDDW ? 2 : 1;
    }
  });
  for (const b of blocks) visited.fill(0, b.start, Math.min(b.end + 1, p.n));
  for (const l of leaders) leader[l] = 0;
  blocks.forEach((b, i) => b.succ.forEach((t) => t >= 0 && blocks[t].preds.push(i)));
  return analyse(blocks, traps, blockAt.get(entry)!);
}

/** Reverse postorder, dominators (Cooper, Harvey and Kennedy's iterative algorithm), loops and merges. */
function analyse(blocks: Block[], traps: TrapEdge[], entry: number): Cfg {
  const nb = blocks.length;
  // Iterative depth-first search for the postorder.
  const post: number[] = [];
  const seen = new Uint8Array(nb);
  const stack: number[] = [entry];
  const iter: number[] = [0];
  seen[entry] = 1;
  while (stack.length) {
    const b = stack[stack.length - 1];
    const succ = blocks[b].succ;
    const i = iter[iter.length - 1];
    if (i < succ.length) {
      iter[iter.length - 1] = i + 1;
      // Visit the not-taken side last so it comes first in reverse postorder: fall-through code
      // stays in program order.
      const t = succ[succ.length - 1 - i];
      if (t >= 0 && !seen[t]) {
        seen[t] = 1;
        stack.push(t);
        iter.push(0);
      }
    } else {
      post.push(b);
      stack.pop();
      iter.pop();
    }
  }
  const order = post.reverse();
  const rpo = new Int32Array(nb).fill(-1);
  order.forEach((b, i) => (rpo[b] = i));
  const idom = new Int32Array(nb).fill(-1);
  idom[entry] = entry;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (rpo[a] > rpo[b]) a = idom[a];
      while (rpo[b] > rpo[a]) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let k = 1; k < order.length; k++) {
      const b = order[k];
      let d = -1;
      for (const q of blocks[b].preds) {
        if (idom[q] === -1) continue;
        d = d === -1 ? q : intersect(q, d);
      }
      if (d !== idom[b]) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  const children: number[][] = blocks.map(() => []);
  for (const b of order) if (b !== entry) children[idom[b]].push(b);
  // Dominator tree intervals, for constant-time "a dominates b".
  const pre = new Int32Array(nb);
  const last = new Int32Array(nb);
  let counter = 0;
  let depth = 0;
  const walk: [number, number, number][] = [[entry, 0, 1]];
  pre[entry] = counter++;
  while (walk.length) {
    const top = walk[walk.length - 1];
    const [b, i, d] = top;
    if (d > depth) depth = d;
    if (i < children[b].length) {
      top[1] = i + 1;
      const c = children[b][i];
      pre[c] = counter++;
      walk.push([c, 0, d + 1]);
    } else {
      last[b] = counter - 1;
      walk.pop();
    }
  }
  const dominates = (a: number, b: number) => pre[a] <= pre[b] && pre[b] <= last[a];
  const loopHeader = new Uint8Array(nb);
  const merge = new Uint8Array(nb);
  const forwardIn = new Int32Array(nb);
  let reducible = true;
  blocks.forEach((blk, u) => {
    for (const v of blk.succ) {
      if (v < 0) continue;
      if (rpo[v] <= rpo[u]) {
        loopHeader[v] = 1;
        if (!dominates(v, u)) reducible = false;
      } else forwardIn[v]++;
    }
  });
  for (let b = 0; b < nb; b++) if (forwardIn[b] >= 2) merge[b] = 1;
  return { blocks, traps, order, rpo, idom, children, loopHeader, merge, reducible, depth };
}

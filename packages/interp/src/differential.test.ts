import { describe, expect, it, afterAll } from 'vitest';
import { randomProgram } from '@tsbpf/testkit';
import { KernelOracle, probe } from '@tsbpf/kernel';
import { InterpBackend } from './backend.js';

const kernel = probe();
if (!kernel.ok) console.log(`interpreter differential test skipped: ${kernel.reason}`);

describe.skipIf(!kernel.ok)('interpreter against the kernel (differential)', () => {
  // Created in the test, not while collecting: describe.skipIf still runs this body.
  let oracle: KernelOracle | undefined;
  const interp = new InterpBackend();
  afterAll(() => oracle?.close());

  it('gives the kernel\'s r0 for >= 10,000 generated programs', () => {
    const o = (oracle = new KernelOracle());
    let compared = 0;
    let rejected = 0;
    const diffs: string[] = [];
    for (let seed = 1; compared < 10_000; seed++) {
      const prog = randomProgram(seed);
      const k = o.run(prog);
      if (!k.accepted) {
        rejected++;
        continue;
      }
      const ours = interp.runRaw(prog, new Uint8Array()).r0;
      compared++;
      if (ours !== k.r0 && diffs.length < 5) diffs.push(`seed ${seed}: interp 0x${ours.toString(16)}, kernel 0x${k.r0.toString(16)}`);
    }
    console.log(`interpreter differential: ${compared} programs compared with the kernel (${rejected} rejected by its verifier), ${diffs.length} differences`);
    expect(diffs).toEqual([]);
    expect(rejected).toBeLessThan(compared / 10);
  });
});

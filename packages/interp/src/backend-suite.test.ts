import { describeBackendSuite } from '@tsbpf/testkit';
import { RuntimeError } from './interp.js';
import { InterpBackend } from './backend.js';

let backend: InterpBackend | undefined;

describeBackendSuite({
  name: 'interp',
  skipReason: () => undefined,
  run(insns, mem) {
    backend ??= new InterpBackend();
    try {
      // bpf_conformance's only helper is uBPF's "unwind" (helper 5), as its plugins provide it.
      return { accepted: true, r0: backend.runRaw(insns, mem, { unwindHelper5: true }).r0 };
    } catch (e) {
      if (e instanceof RuntimeError) return { accepted: false, error: e.message };
      throw e;
    }
  },
  backend: () => (backend ??= new InterpBackend()),
  createMap(spec, entries) {
    backend ??= new InterpBackend();
    const m = backend.createMap(spec);
    for (const [k, v] of entries) m.update(k, v);
    return m.fd;
  },
  expectedDifferences: {},
});

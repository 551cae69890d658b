import { KernelBackend, probe } from '@tsbpf/kernel';
import { describeMapProgramSuite } from '@tsbpf/testkit';
import { JitBackend } from './backend.js';

const kernel = probe();
describeMapProgramSuite('jit-wasm', () => new JitBackend(), { reason: kernel.ok ? undefined : kernel.reason, make: () => new KernelBackend() });

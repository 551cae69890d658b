import { KernelBackend, probe } from '@tsbpf/kernel';
import { describeMapProgramSuite } from '@tsbpf/testkit';
import { InterpBackend } from './backend.js';

const kernel = probe();
describeMapProgramSuite('interp', () => new InterpBackend(), { reason: kernel.ok ? undefined : kernel.reason, make: () => new KernelBackend() });

import { describeUserSpaceBackendSuite } from '@tsbpf/testkit';
import { JitBackend } from './backend.js';

describeUserSpaceBackendSuite('jit-wasm', () => new JitBackend());

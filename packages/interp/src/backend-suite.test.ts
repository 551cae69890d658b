import { describeUserSpaceBackendSuite } from '@tsbpf/testkit';
import { InterpBackend } from './backend.js';

describeUserSpaceBackendSuite('interp', () => new InterpBackend());

import { defineConfig } from 'vitest/config';
import { packageAliases } from './vitest.shared.js';

// One run over every package; each package is a vitest project so `npm test -w @tsbpf/core`
// (which runs `vitest run --project @tsbpf/core` from the root) runs only its own tests.
export default defineConfig({
  test: {
    reporters: ['default', './vitest.summary.ts'],
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts'],
  },
  resolve: { alias: packageAliases() },
});

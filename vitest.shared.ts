import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Tests run against the TypeScript sources, not the built `dist`: each `@tsbpf/*` import resolves
 * to the package's `src/index.ts`, so `npm test` needs no build step.
 */
export function packageAliases(): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const group of ['packages', 'apps']) {
    for (const dir of readdirSync(join(root, group))) {
      const pkgFile = join(root, group, dir, 'package.json');
      const entry = join(root, group, dir, 'src', 'index.ts');
      if (!existsSync(pkgFile) || !existsSync(entry)) continue;
      const name = JSON.parse(readFileSync(pkgFile, 'utf8')).name as string;
      aliases[name] = entry;
    }
  }
  return aliases;
}

/** The vitest project of one package directory. */
export function packageProject(dir: string) {
  const name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name as string;
  return defineProject({
    resolve: { alias: packageAliases() },
    test: {
      name,
      root: dir,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 120_000,
      hookTimeout: 120_000,
    },
  });
}

/** Absolute path of the shared test data (`../shared` beside the checkout). */
export const sharedDir = resolve(root, '..', 'shared');

// Test-only helpers (excluded from the build): where the shared test data lives.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** `../shared` beside the checkout, where CI puts the conformance suite, corpus and benchmarks. */
export const sharedRoot = resolve(repoRoot, '..', 'shared');

/** Absolute path of a file under ../shared. */
export function sharedPath(...parts: string[]): string {
  return resolve(sharedRoot, ...parts);
}

/** Whether ../shared is present; tests that need it skip with a printed reason otherwise. */
export function hasShared(...parts: string[]): boolean {
  const ok = existsSync(sharedPath(...parts));
  if (!ok) console.log(`skipping: ${sharedPath(...parts)} is not present (CI puts ../shared beside the checkout)`);
  return ok;
}

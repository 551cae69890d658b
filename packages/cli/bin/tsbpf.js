#!/usr/bin/env node
// The installed `tsbpf` command. It is plain JavaScript committed to the repository so that npm can
// link it at install time, before `npm ci` has built dist/ (the root `prepare` script builds it).
import('../dist/bin.js').catch((e) => {
  process.stderr.write(`tsbpf: cannot load the built CLI (${e.message}); run \`npm run build\` at the repository root\n`);
  process.exitCode = 1;
});

#!/usr/bin/env node
import { runCli } from './cli/runCli';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`cover-torch: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);

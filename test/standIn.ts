import fs from 'node:fs';

/**
 * Writes a bash script to `file`, executable: a stand-in for a tool a script under test
 * runs (put its folder first on PATH). Returns the path.
 */
export function writeStandIn(file: string, body: string): string {
  fs.writeFileSync(file, `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
  return file;
}

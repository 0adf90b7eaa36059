import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A temporary folder for the tests of one file: created before them, removed after.
 * Returns a function giving its path (known only once the tests run).
 */
export function useTempDir(prefix: string): () => string {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return () => dir;
}

import fs from 'node:fs';
import path from 'node:path';

/**
 * The folder holding cover-torch's package.json. Found by walking up, because this file
 * runs both from lib/ (tests) and from dist/lib/ (the published package).
 */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate) && readName(candidate) === 'cover-torch') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cover-torch: no package.json found above ${__dirname}`);
    dir = parent;
  }
}

/** The version in cover-torch's package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function readName(file: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

// Decodes TOON documents with the reference decoder, @toon-format/toon.
//
// Usage: node decode.mjs <path to the installed @toon-format/toon package>
// Reads a JSON array of TOON documents on stdin; writes a JSON array of the decoded
// values (strict mode) on stdout. A document that fails to decode becomes
// {"__error": "<message>"} so the caller can say which one failed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const pkgDir = process.argv[2];
if (!pkgDir) {
  console.error('usage: node decode.mjs <package dir>');
  process.exit(2);
}
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const entry = pkg.exports?.['.']?.default ?? pkg.module ?? pkg.main;
const { decode } = await import(pathToFileURL(join(pkgDir, entry)).href);

const docs = JSON.parse(readFileSync(0, 'utf8'));
const out = docs.map((text) => {
  try {
    return decode(text, { strict: true });
  } catch (e) {
    return { __error: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify(out));

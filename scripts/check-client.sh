#!/usr/bin/env bash
# Checks the JavaScript client package (web/client/): its hand-written TypeScript declarations
# against its usage examples and the mistakes they must reject (tsc --noEmit, strict), and that
# the declarations name every export of the module. TypeScript is pinned in package.json and
# package-lock.json and installed by `npm ci` into web/client/node_modules (git-ignored) the
# first time; later runs use that copy and need no network.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT/web/client"

command -v npm >/dev/null || ensure_packages nodejs npm
pinned="$(node -p "require('./package-lock.json').packages['node_modules/typescript'].version")"
installed="$(node -p "try { require('./node_modules/typescript/package.json').version } catch { '' }")"
if [ "$installed" != "$pinned" ]; then
    log "installing TypeScript $pinned for the client check (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >&2
fi

node_modules/.bin/tsc --noEmit -p .
echo "check-client: declarations match the examples (tsc $pinned --noEmit, strict)"

# Every export of the module is declared (a new export without types would otherwise pass).
node --input-type=module -e "
import * as m from './plauder-client.js';
import { readFileSync } from 'node:fs';
const types = readFileSync('./plauder-client.d.ts', 'utf8');
const missing = Object.keys(m).filter((name) => !new RegExp('export (declare )?(class|function|const) ' + name + '\\\\b').test(types));
if (missing.length) { console.error('check-client: not declared in plauder-client.d.ts: ' + missing.join(', ')); process.exit(1); }
console.log('check-client: every export declared (' + Object.keys(m).join(', ') + ')');
"

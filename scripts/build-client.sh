#!/bin/sh
# Builds the PWA (client/) into client/dist, which the server serves at /.
# Run by `npm install`/`npm ci` (root `prepare`) and before `npm start` when the build is
# missing (`--if-missing`), so a fresh checkout serves the app after `npm install && npm start`.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$1" = "--if-missing" ] && [ -f "$here/client/dist/index.html" ]; then
  exit 0
fi
vite="$here/node_modules/vite/bin/vite.js"
if [ ! -f "$vite" ]; then
  echo "tocsin: vite is not installed; run npm install to build the web app" >&2
  exit 1
fi
cd "$here/client"
NODE_ENV=production exec sh "$here/scripts/node.sh" "$vite" build --logLevel warn

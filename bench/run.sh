#!/bin/sh
# Raises the open-files limit as far as this shell may (the pending-scale run holds ~20,000 sockets),
# then runs the benchmark. `npm run bench` builds first.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
exec node bench/dist/run.js "$@"

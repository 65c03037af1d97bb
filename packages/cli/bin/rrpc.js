#!/usr/bin/env node
// The rrpc command. This file is committed executable so that the bin works straight after `tsc -b`
// (a compiled file loses the executable bit); the command itself is src/main.ts.
import '../dist/main.js';

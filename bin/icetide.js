#!/usr/bin/env node
// The `icetide` command: runs the TypeScript sources through tsx, so there is no build step to forget.
require('tsx/cjs');
require('../src/starters/cli.ts');

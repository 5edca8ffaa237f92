#!/usr/bin/env node
// The `icetide` command: the compiled CLI (`npm run build` writes dist/ in a checkout; the package ships it).
require('../dist/starters/cli.js');

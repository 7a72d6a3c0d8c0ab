#!/usr/bin/env node
// Entry point of the `depctl` command. It runs the compiled build (dist/, made by `npm run build`,
// which `npm ci` runs through the `prepare` script).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));

#!/usr/bin/env node
// `npm run demo`: builds the 'report' test guest and boots it with Nimbus on 2 vCPUs and 1 GiB. The guest prints
// what the VMM handed over (start info, memory map, ACPI tables) on the serial console and powers off.
import { spawnSync } from 'node:child_process';
import { buildGuest } from '../dist/test/guests/build.js';

const kernel = await buildGuest('report');
const args = ['bin/nimbus', '--kernel', kernel, '--cpus', 'boot=2', '--memory', 'size=1G', '--serial', 'tty', '--cmdline', 'hello from nimbus', '-v'];
console.log(`$ ${args.join(' ')}`);
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);

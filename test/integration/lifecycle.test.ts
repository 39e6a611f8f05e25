/**
 * End-to-end VM lifecycle through the `nimbus` CLI on the real /dev/kvm, driven by the `lifecycle` test guest
 * (test/guests/src/lifecycle): guest-requested resets through the ACPI reset register, the i8042 and the CMOS
 * rebuild the VM and boot it again with fresh RAM; a triple fault ends Nimbus with status 1; serial input typed on
 * Nimbus's stdin (`--serial tty`) reaches the guest's 16550 through IRQ 4 on the IOAPIC, complete and in order,
 * including bursts longer than the UART's 64-byte receive FIFO; SIGTERM stops the VM with status 0, even while
 * the VM is being built.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { buildGuest } from '../guests/build.ts';
import { ConsoleSession } from '../helpers/console-session.ts';
import {
  BOOT_LINE,
  bootCounts,
  echoedLines,
  PANIC_LINE,
  resetLine,
  ROUTE_LINE,
  SERIAL_READY_LINE,
  serialEchoExchange,
} from '../guests/lifecycle-guest.ts';
import { NIMBUS_BIN, runNimbus } from '../helpers/nimbus-process.ts';

/** Limits per Nimbus run: a boot of the guest takes tens of milliseconds, so these only catch hangs. */
const SESSION_LIMIT_MS = 30_000;
const WAIT_MS = 15_000;
/** Boots a reset test waits for: two complete reboots. */
const RESET_BOOTS = 3;

const REBOOT_LOG = /INFO -- the guest requested a reset: rebooting the VM\n/g;

let lifecycleElf = '';

before(async () => {
  lifecycleElf = await buildGuest('lifecycle');
});

function startNimbus(action: string, extraArgs: readonly string[] = []): ConsoleSession {
  const args = [NIMBUS_BIN, '--kernel', lifecycleElf, '--serial', 'tty', '--cmdline', `nimbus.test=${action}`, '-v', ...extraArgs];
  return new ConsoleSession(process.execPath, args, SESSION_LIMIT_MS);
}

describe('guest-requested reset', () => {
  for (const { action, deviceLog } of [
    { action: 'acpi-reset', deviceLog: /INFO -- ACPI reboot signalled\n/g },
    { action: 'i8042-reset', deviceLog: /INFO -- i8042 reset signalled\n/g },
    { action: 'cmos-reset', deviceLog: /INFO -- CMOS reset\n/g },
  ]) {
    test(`${action}: the VM is rebuilt with fresh RAM and boots again, every time; SIGTERM then stops it`, async () => {
      const session = startNimbus(action, ['--cpus', 'boot=2']);
      try {
        await session.waitFor('stdout', resetLine(action), { times: RESET_BOOTS, timeoutMs: WAIT_MS });
        session.signal('SIGTERM');
        const exit = await session.exited;
        const context = session.describe();
        assert.deepEqual(exit, { status: 0, signal: null }, `SIGTERM stops nimbus cleanly\n${context}`);
        assert.doesNotMatch(session.output('stdout'), PANIC_LINE, context);
        assert.doesNotMatch(session.output('stderr'), / ERROR -- /, context);
        assert.match(session.output('stderr'), /INFO -- received SIGTERM: stopping the VM\n/);

        const boots = session.count('stdout', BOOT_LINE);
        const resets = session.count('stdout', resetLine(action));
        const signalled = session.count('stderr', deviceLog);
        const reboots = session.count('stderr', REBOOT_LOG);
        assert.ok(reboots >= RESET_BOOTS - 1, `at least ${RESET_BOOTS - 1} reboots logged\n${context}`);
        // Each reset the device saw led to a reboot, except perhaps one that raced with SIGTERM.
        assert.ok(signalled === reboots || signalled === reboots + 1, `${signalled} resets signalled, ${reboots} reboots\n${context}`);
        // Each reboot started the guest again (the last boot may have been stopped before it printed).
        assert.ok(boots === reboots || boots === reboots + 1, `${boots} boots after ${reboots} reboots\n${context}`);
        assert.ok(resets === boots || resets === boots - 1, `${resets} reset requests in ${boots} boots\n${context}`);
        // Every boot found zeroed RAM past its image, not the record the previous boot left there.
        const counts = bootCounts(session.output('stdout'));
        assert.ok(counts.length === boots || counts.length === boots - 1, context);
        assert.deepEqual(counts, Array(counts.length).fill(1), context);
      } finally {
        await session.close();
      }
    });
  }
});

describe('triple fault', () => {
  test('a triple-faulting guest ends nimbus with status 1 and the vCPU named, without a reboot', async () => {
    const run = await runNimbus(['--kernel', lifecycleElf, '--serial', 'tty', '--cpus', 'boot=2', '--cmdline', 'nimbus.test=triple-fault', '-v']);
    const context = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
    assert.equal(run.status, 1, context);
    assert.match(run.stdout, /^lifecycle\.triple_fault$/m, 'the guest got as far as its triple fault');
    assert.doesNotMatch(run.stdout, PANIC_LINE, context);
    assert.match(run.stderr, /ERROR -- vCPU 0 triple-faulted: the guest crashed\n/);
    assert.doesNotMatch(run.stderr, /rebooting the VM/, context);
    assert.equal([...run.stdout.matchAll(BOOT_LINE)].length, 1, context);
  });
});

describe('serial input (--serial tty)', () => {
  test('stdin reaches the guest through IRQ 4 on the IOAPIC, complete and in order, bursts beyond the FIFO included', async () => {
    const session = startNimbus('serial-echo');
    try {
      const { typed, echoed } = await serialEchoExchange(session, WAIT_MS);
      assert.deepEqual(echoed, typed);
      // The MADT has no interrupt source override for IRQ 4: ISA IRQ 4 is IOAPIC pin 4, edge, active high.
      assert.deepEqual(ROUTE_LINE.exec(session.output('stdout'))?.slice(1), ['4', '0xfec00000', '4', '0', '0']);
      assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
      assert.match(session.output('stdout'), /^serial\.rx=\nreport\.done$/m, 'the empty line made the guest power off');
      assert.doesNotMatch(session.output('stdout'), PANIC_LINE);
      assert.match(session.output('stderr'), /INFO -- the guest powered off\n/);
    } finally {
      await session.close();
    }
  });

  test(
    'serial input still reaches the guest after it reset the VM',
    async () => {
      const session = startNimbus('serial-echo');
      try {
        await session.waitFor('stdout', SERIAL_READY_LINE, { timeoutMs: WAIT_MS });
        session.write('reset\n');
        await session.waitFor('stdout', SERIAL_READY_LINE, { times: 2, timeoutMs: WAIT_MS });
        assert.match(session.output('stdout'), /^lifecycle\.reset=acpi-reset$/m);
        session.write('pong\n');
        await session.waitFor('stdout', /^serial\.rx=706f6e67\n/m, { timeoutMs: 3_000 });
        session.write('\n');
        assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
        assert.deepEqual(echoedLines(session.output('stdout')), [Buffer.from('reset'), Buffer.from('pong'), Buffer.alloc(0)]);
      } finally {
        await session.close();
      }
    },
  );
});

describe('SIGTERM', () => {
  test('--no-shutdown: the VMM outlives the guest\'s power-off until it is stopped', async () => {
    const session = startNimbus('serial-echo', ['--no-shutdown']);
    try {
      await session.waitFor('stdout', SERIAL_READY_LINE, { timeoutMs: WAIT_MS });
      session.write('\n');
      await session.waitFor('stderr', /INFO -- the guest powered off\n/, { timeoutMs: WAIT_MS });
      const early = await Promise.race([session.exited, new Promise((resolve) => setTimeout(() => resolve('running'), 500))]);
      assert.equal(early, 'running', 'still running 0.5 s after the power-off');
      session.signal('SIGTERM');
      assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
    } finally {
      await session.close();
    }
  });

  test('while the guest waits for input: the VM stops with status 0', async () => {
    const session = startNimbus('serial-echo');
    try {
      await session.waitFor('stdout', SERIAL_READY_LINE, { timeoutMs: WAIT_MS });
      session.signal('SIGTERM');
      assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
      assert.doesNotMatch(session.output('stdout'), /^serial\.rx=/m, 'no input arrived');
    } finally {
      await session.close();
    }
  });

  test('while the VM is being built: it still stops (the guest would otherwise wait for input forever)', async () => {
    const session = startNimbus('serial-echo');
    try {
      // Logged by Machine.boot after loading the kernel, before it starts the vCPUs and returns.
      await session.waitFor('stderr', /INFO -- loaded /, { timeoutMs: WAIT_MS });
      session.signal('SIGTERM');
      assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
      assert.match(session.output('stderr'), /INFO -- received SIGTERM: stopping the VM\n/);
    } finally {
      await session.close();
    }
  });
});

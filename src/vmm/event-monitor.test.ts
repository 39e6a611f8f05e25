/**
 * Tests of the event monitor: the exact bytes of Cloud Hypervisor's event format, files opened by path and taken
 * over by fd, FIFOs read by another party (including one that goes away and one that stops reading), and errors.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingLogger } from '../../test/helpers/device-fakes.ts';
import { EventMonitor, EventMonitorError, eventLogLine, formatEvent, type EventMonitorOptions } from './event-monitor.ts';

const dir = mkdtempSync(join(tmpdir(), 'nimbus-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const START = 5_000_000_000n;

/** Options with a clock that advances by `stepNs` on every read, starting 1.5 ms after START. */
function options(stepNs = 1_000_000_000n, extra: { maxBacklogBytes?: number } = {}) {
  const logger = new RecordingLogger();
  let now = START + 1_500_000n - stepNs;
  return { logger, startTime: START, now: () => (now += stepNs), ...extra } satisfies EventMonitorOptions;
}

const STARTING = `{
  "timestamp": {
    "secs": 0,
    "nanos": 1500000
  },
  "source": "vmm",
  "event": "starting",
  "properties": null
}

`;

const ACTIVATED = `{
  "timestamp": {
    "secs": 1,
    "nanos": 1500000
  },
  "source": "virtio-device",
  "event": "activated",
  "properties": {
    "id": "_disk0",
    "bdf": "0000:00:04.0"
  }
}

`;

const isMonitorError = (code: string, message: RegExp) => (error: unknown) =>
  error instanceof EventMonitorError && error.code === code && message.test(error.message);

describe('event format', () => {
  it("writes serde_json's pretty form in upstream's field order, then a blank line", () => {
    assert.equal(formatEvent(1_500_000n, 'vmm', 'starting'), STARTING);
    assert.equal(formatEvent(1_001_500_000n, 'virtio-device', 'activated', { id: '_disk0', bdf: '0000:00:04.0' }), ACTIVATED);
  });

  it('splits the elapsed time into seconds and nanoseconds, never negative, and escapes like serde_json', () => {
    const parsed = JSON.parse(formatEvent(3_723_000_000_999n, 'vm', 'booted'));
    assert.deepEqual(parsed.timestamp, { secs: 3723, nanos: 999 });
    assert.deepEqual(JSON.parse(formatEvent(-5n, 'vm', 'booted')).timestamp, { secs: 0, nanos: 0 });
    assert.equal(
      formatEvent(0n, 'guest', 'panic', { event: 'a"b\\c\n\u0001\u007fé' }).split('\n')[8],
      '    "event": "a\\"b\\\\c\\n\\u0001\u007fé"',
    );
  });

  it("logs upstream's line for each event", () => {
    assert.equal(eventLogLine('vmm', 'starting'), 'Event: source = vmm event = starting ');
    assert.equal(
      eventLogLine('vm', 'device-removed', { id: '_net1', bdf: '0000:00:05.0' }),
      'Event: source = vm event = device-removed id = _net1, bdf = 0000:00:05.0',
    );
  });
});

describe('event monitor files', () => {
  it('creates path= with mode 0600, truncates what was there, and writes each event as it is emitted', async () => {
    const path = join(dir, 'events.json');
    const opts = options();
    const monitor = EventMonitor.open({ path }, opts);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    monitor.emit('vmm', 'starting');
    assert.equal(readFileSync(path, 'utf8'), STARTING, 'written synchronously');
    monitor.emit('virtio-device', 'activated', { id: '_disk0', bdf: '0000:00:04.0' });
    await monitor.close();
    assert.equal(readFileSync(path, 'utf8'), STARTING + ACTIVATED);
    assert.deepEqual(opts.logger.lines, [
      { level: 'info', message: 'Event: source = vmm event = starting ' },
      { level: 'info', message: 'Event: source = virtio-device event = activated id = _disk0, bdf = 0000:00:04.0' },
    ]);
    monitor.emit('vmm', 'shutdown');
    assert.equal(readFileSync(path, 'utf8'), STARTING + ACTIVATED, 'nothing is written after close');
    assert.equal(opts.logger.lines.length, 3, 'but the event is still logged');

    writeFileSync(path, 'x'.repeat(1000));
    const reopened = EventMonitor.open({ path }, options());
    reopened.emit('vmm', 'starting');
    await reopened.close();
    assert.equal(readFileSync(path, 'utf8'), STARTING, 'an existing file is truncated');
  });

  it('takes over fd= and closes it on close', async () => {
    const path = join(dir, 'by-fd.json');
    const fd = openSync(path, 'w');
    const monitor = EventMonitor.open({ fd }, options());
    monitor.emit('vmm', 'starting');
    await monitor.close();
    assert.equal(readFileSync(path, 'utf8'), STARTING);
    assert.throws(() => fstatSync(fd), { code: 'EBADF' });
  });

  it('without --event-monitor only logs', async () => {
    const opts = options();
    const monitor = EventMonitor.open(undefined, opts);
    assert.equal(monitor.writing, false);
    monitor.emit('vm', 'booting');
    await monitor.close();
    assert.deepEqual(opts.logger.lines, [{ level: 'info', message: 'Event: source = vm event = booting ' }]);
  });

  it('reports a path it cannot open and an fd that is not open', () => {
    assert.throws(
      () => EventMonitor.open({ path: join(dir, 'missing', 'events.json') }, options()),
      isMonitorError('OPEN_FAILED', /missing\/events\.json.*ENOENT/),
    );
    assert.throws(() => EventMonitor.open({ path: dir }, options()), isMonitorError('OPEN_FAILED', /EISDIR/));
    const fd = openSync(join(dir, 'closed.json'), 'w');
    closeSync(fd);
    assert.throws(() => EventMonitor.open({ fd }, options()), isMonitorError('BAD_FD', new RegExp(`fd=${fd} is not an open file`)));
    assert.throws(() => EventMonitor.open({ fd: -1 }, options()), isMonitorError('BAD_FD', /fd=-1/));
  });

  it('logs a write failure once and stops writing, without throwing into the caller', async () => {
    const path = join(dir, 'read-only.json');
    writeFileSync(path, '');
    const opts = options();
    const fd = openSync(path, 'r');
    const monitor = EventMonitor.open({ fd }, opts);
    monitor.emit('vmm', 'starting');
    monitor.emit('vm', 'booting');
    assert.equal(monitor.writing, false);
    assert.deepEqual(
      opts.logger.lines.filter((line) => line.level === 'warn'),
      [{ level: 'warn', message: `event monitor: writing to fd=${fd} failed (EBADF); no further events will be written there` }],
    );
    assert.equal(opts.logger.lines.filter((line) => line.level === 'info').length, 2);
    await monitor.close();
  });
});

describe('event monitor FIFOs', () => {
  /** A FIFO whose non-blocking read end this test holds, so opening the path for writing does not wait. */
  function fifo(name: string) {
    const path = join(dir, name);
    execFileSync('mkfifo', [path]);
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const chunk = Buffer.alloc(1 << 16);
    /** Everything the pipe holds now. */
    const drain = (): string => {
      let text = '';
      for (;;) {
        try {
          const n = readSync(reader, chunk, 0, chunk.length, null);
          if (n === 0) return text;
          text += chunk.toString('utf8', 0, n);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return text;
          throw error;
        }
      }
    };
    return { path, reader, drain };
  }

  it('streams events to the reader and stops, with one warning, when the reader goes away (EPIPE)', async () => {
    const { path, reader, drain } = fifo('events.fifo');
    const opts = options();
    const monitor = EventMonitor.open({ path }, opts);
    monitor.emit('vmm', 'starting');
    await monitor.flushed();
    assert.equal(drain(), STARTING);

    closeSync(reader);
    monitor.emit('vm', 'booting');
    await monitor.flushed();
    await new Promise((resolve) => setImmediate(resolve));
    monitor.emit('vm', 'booted');
    await monitor.flushed();
    assert.equal(monitor.writing, false);
    assert.deepEqual(
      opts.logger.lines.filter((line) => line.level === 'warn'),
      [{ level: 'warn', message: `event monitor: writing to path=${path} failed (EPIPE); no further events will be written there` }],
    );
    assert.equal(opts.logger.lines.filter((line) => line.level === 'info').length, 3);
    await monitor.close();
  });

  it('drops whole events, with one warning, while a reader that stopped reading has a full backlog', async () => {
    const { path, reader, drain } = fifo('slow.fifo');
    const opts = options(1n, { maxBacklogBytes: 4096 });
    const monitor = EventMonitor.open({ path }, opts);
    const sent = 2000;
    for (let i = 0; i < sent; i++) monitor.emit('vm', 'migration-memory-iteration', { id: String(i) });
    const warnings = opts.logger.lines.filter((line) => line.level === 'warn');
    assert.deepEqual(warnings, [
      { level: 'warn', message: `event monitor: the reader of path=${path} is not keeping up; dropping events until it catches up` },
    ]);

    let flushed = false;
    void monitor.flushed().then(() => (flushed = true));
    let text = '';
    while (!flushed) {
      text += drain();
      await new Promise((resolve) => setImmediate(resolve));
    }
    text += drain();
    const ids = text
      .trim()
      .split('\n\n')
      .map((entry) => (JSON.parse(entry) as { properties: { id: string } }).properties.id);
    assert.ok(ids.length > 0 && ids.length < sent, `some events got through and some were dropped (${ids.length} of ${sent})`);
    assert.deepEqual(ids, ids.map((_, i) => String(i)), 'the first events arrive whole and in order, the later ones were dropped');
    assert.equal(monitor.writing, true, 'dropping is not a failure');
    await monitor.close();
    closeSync(reader);
  });
});

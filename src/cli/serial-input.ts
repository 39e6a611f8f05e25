/**
 * Feeds the VMM's standard input to the guest's serial port (`--serial tty`). A terminal is put in raw mode so keys
 * (including Ctrl-C) go to the guest; input beyond the UART's FIFO waits until the guest drains it.
 */
import type { Machine } from '../vmm/machine.ts';

/** Starts forwarding stdin; returns a function that stops it and restores the terminal. */
export function attachSerialInput(machine: Machine): () => void {
  const stdin = process.stdin;
  if (!stdin.readable) return () => {};
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  let queue: Uint8Array[] = [];
  let draining = false;
  const drain = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    while (queue.length > 0) {
      const chunk = queue[0]!;
      const taken = machine.enqueueSerialInput(chunk);
      if (taken === chunk.length) queue.shift();
      else {
        queue[0] = chunk.subarray(taken);
        stdin.pause();
        await machine.waitForSerialInputSpace();
        stdin.resume();
      }
    }
    draining = false;
  };
  const onData = (chunk: Buffer): void => {
    queue.push(new Uint8Array(chunk));
    void drain();
  };
  stdin.on('data', onData);
  // A previous detach paused the stream (e.g. across a guest reset); adding a listener does not resume it.
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.pause();
    if (raw) stdin.setRawMode(false);
    queue = [];
  };
}

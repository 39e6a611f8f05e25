/** Runs a critical section under a SharedLock (the shared BAR map's and GSI route table's writer locks). Pure. */
import type { SharedLock } from '../../devices/shared-lock.ts';

export function withLock<T>(lock: SharedLock, action: () => T): T {
  lock.acquire();
  try {
    return action();
  } finally {
    lock.release();
  }
}

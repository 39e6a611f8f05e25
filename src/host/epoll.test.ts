/** The Epoll wrapper: readable eventfds are reported with their tokens, and draining resets them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drainEventFd, Epoll } from './epoll.ts';
import { EventFd } from './eventfd.ts';

test('wait reports the readable fds by token; drainEventFd returns and resets the counter', () => {
  const epoll = new Epoll();
  const quiet = new EventFd({ nonBlocking: true });
  const busy = new EventFd({ nonBlocking: true });
  try {
    epoll.add(quiet.fd, 0);
    epoll.add(busy.fd, 7);
    busy.write(2);
    busy.write(3);
    assert.equal(epoll.wait(), 1);
    assert.equal(epoll.token(0), 7);
    assert.equal(drainEventFd(busy.fd), 5);
    assert.equal(drainEventFd(busy.fd), 0, 'already drained');
    quiet.write();
    assert.equal(epoll.wait(), 1);
    assert.equal(epoll.token(0), 0);
  } finally {
    quiet.close();
    busy.close();
    epoll.close();
  }
});

/**
 * Sends one API request over the VMM's Unix socket and resolves to its answer, as Cloud Hypervisor's api_client
 * does: connect, write the whole request with the request's file descriptors (SCM_RIGHTS) on its first bytes, then
 * read the answer. Every request takes this one path, with descriptors or without, so that there is one transport:
 * the socket is the addon's (node:net cannot pass descriptors), connected and written blocking (a CLI has nothing
 * else to do meanwhile), then read through node:net so that the answer arrives asynchronously.
 * A failed connect is CONNECT_FAILED, a failed write or read SOCKET_FAILED, a malformed or truncated answer
 * INVALID_RESPONSE.
 */
import { Socket } from 'node:net';
import { closeDescriptor, connectUnixSocket, sendAll, UnixSocketError } from '../../host/unix-socket.ts';
import { type ApiRequest, type ApiResponse, encodeRequest, ResponseReader } from './http-message.ts';
import { RemoteError } from './remote-error.ts';

function socketFailed(error: unknown): RemoteError {
  return new RemoteError('SOCKET_FAILED', 'Error writing to or reading from HTTP socket', { cause: error });
}

/** Connects to the API socket; the system error (not the addon's wrapper) is the cause. */
function connect(socketPath: string): number {
  try {
    return connectUnixSocket(socketPath);
  } catch (error) {
    const cause = error instanceof UnixSocketError && error.code === 'CONNECT_FAILED' ? error.cause : error;
    throw new RemoteError('CONNECT_FAILED', `Error opening HTTP socket ${socketPath}`, { cause });
  }
}

export async function sendApiRequest(socketPath: string, request: ApiRequest): Promise<ApiResponse> {
  const fd = connect(socketPath);
  try {
    sendAll(fd, encodeRequest(request), request.fds);
  } catch (error) {
    closeDescriptor(fd);
    throw socketFailed(error);
  }
  return readResponse(fd);
}

/** Reads the answer on the connected socket `fd`, which it then closes. */
function readResponse(fd: number): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const reader = new ResponseReader();
    const socket = new Socket({ fd, readable: true, writable: false });
    let settled = false;
    /** Runs `read` once: its result resolves the promise, what it throws rejects it; the socket is closed. */
    const settle = (read: () => ApiResponse | undefined): void => {
      if (settled) return;
      let response: ApiResponse | undefined;
      try {
        response = read();
      } catch (error) {
        settled = true;
        socket.destroy();
        reject(error);
        return;
      }
      if (response === undefined) return;
      settled = true;
      socket.destroy();
      resolve(response);
    };
    socket.on('data', (chunk: Buffer) => settle(() => reader.push(chunk)));
    socket.on('end', () => settle(() => reader.finish()));
    socket.on('error', (error) =>
      settle(() => {
        throw socketFailed(error);
      }),
    );
  });
}

/**
 * Sends one API request over the VMM's Unix socket (node:net) and resolves to its answer. A failed connect is
 * CONNECT_FAILED, a failed read or write SOCKET_FAILED, a malformed or truncated answer INVALID_RESPONSE.
 */
import { createConnection } from 'node:net';
import { type ApiRequest, type ApiResponse, encodeRequest, ResponseReader } from './http-message.ts';
import { RemoteError } from './remote-error.ts';

export function sendApiRequest(socketPath: string, request: ApiRequest): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const reader = new ResponseReader();
    const socket = createConnection({ path: socketPath });
    let connected = false;
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
    socket.on('connect', () => {
      connected = true;
      socket.write(encodeRequest(request));
    });
    socket.on('data', (chunk: Buffer) => settle(() => reader.push(chunk)));
    socket.on('end', () => settle(() => reader.finish()));
    socket.on('error', (error) =>
      settle(() => {
        throw connected
          ? new RemoteError('SOCKET_FAILED', 'Error writing to or reading from HTTP socket', { cause: error })
          : new RemoteError('CONNECT_FAILED', `Error opening HTTP socket ${socketPath}`, { cause: error });
      }),
    );
  });
}

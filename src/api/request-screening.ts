/**
 * Decides what happens to a parsed HTTP request before it reaches the VMM: an unknown path (404), a wrong method
 * (405), descriptors sent to an endpoint that takes none, a missing, non-JSON or schema-violating body (400) are
 * answered here; a valid request is forwarded with its JSON body. Also checks the VMM's answers against the
 * endpoint's response schema. Pure: no node:* imports (the validators are passed in).
 */
import type { VmmActionKind } from '../vmm/actions.ts';
import type { HttpRequest } from './http-request-parser.ts';
import { errorResponse, type HttpResponse } from './http-response.ts';
import { API_ROOT, endpointOf, ROUTES } from './routes.ts';
import { type ApiValidators, describeViolation } from './body-schemas.ts';

export type Screened = { outcome: 'forward'; endpoint: VmmActionKind; body: unknown } | { outcome: 'answer'; response: HttpResponse };

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Screens a request that arrived with `fdCount` file descriptors. */
export function screenRequest(request: HttpRequest, fdCount: number, validators: ApiValidators): Screened {
  const endpoint = endpointOf(request.path);
  if (endpoint === undefined) {
    return answer(404, `no such endpoint: ${request.path} (the API is under ${API_ROOT}/, e.g. ${API_ROOT}/vmm.ping)`);
  }
  const route = ROUTES[endpoint];
  if (request.method !== route.method) {
    return answer(405, `${endpoint} takes ${route.method}, not ${request.method}`, [route.method]);
  }
  if (fdCount > 0 && !route.acceptsFds) return answer(400, `${endpoint} does not take file descriptors`);
  if (route.request === undefined) return { outcome: 'forward', endpoint, body: undefined };

  if (request.body.length === 0) return answer(400, `${endpoint} needs a JSON request body (${route.request})`);
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(request.body));
  } catch (error) {
    return answer(400, `the request body is not valid JSON: ${(error as Error).message}`);
  }
  const validate = validators[route.request];
  if (!validate(body)) return answer(400, `invalid ${route.request}: ${describeViolation(validate.errors)}`);
  return { outcome: 'forward', endpoint, body };
}

/** What the VMM answered for an endpoint: a body (200), none (204), or an error. */
export type VmmReply = { ok: true; body?: unknown } | { ok: false; status: number; messages: string[] };

/**
 * The HTTP response for the VMM's reply. A success that does not match the endpoint's response shape or schema is
 * a bug in the VMM: it is answered 500 and `report` receives the details.
 */
export function replyResponse(endpoint: VmmActionKind, reply: VmmReply, validators: ApiValidators, report: (problem: string) => void): HttpResponse {
  if (!reply.ok) return errorResponse(reply.status, reply.messages);
  const shape = ROUTES[endpoint].response;
  if (reply.body === undefined) {
    if (shape.kind !== 'body') return { status: 204 };
    return internalError(`${endpoint} returned no body; its response is a ${shape.schema}`, report);
  }
  if (shape.kind === 'empty') return internalError(`${endpoint} returned a body; it answers 204 without one`, report);
  const validate = validators[shape.schema];
  if (!validate(reply.body)) {
    return internalError(`${endpoint} returned an invalid ${shape.schema}: ${describeViolation(validate.errors)}`, report);
  }
  return { status: 200, json: JSON.stringify(reply.body) };
}

function internalError(problem: string, report: (problem: string) => void): HttpResponse {
  report(problem);
  return errorResponse(500, [`internal error: ${problem}`]);
}

function answer(status: number, message: string, allow?: readonly string[]): Screened {
  const response = errorResponse(status, [message]);
  return { outcome: 'answer', response: allow === undefined ? response : { ...response, allow } };
}

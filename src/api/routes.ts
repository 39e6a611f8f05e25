/**
 * The REST API as data: one route per endpoint of Cloud Hypervisor's OpenAPI description (31, under `/api/v1`),
 * each with its method, request and response schemas, whether it takes file descriptors (SCM_RIGHTS), and the
 * builder that turns its checked JSON body into a VmmAction. Endpoint names are the action kinds. Pure: no node:*.
 */
import type { VmmAction, VmmActionKind } from '../vmm/actions.ts';
import {
  deviceConfigFromJson,
  diskConfigFromJson,
  fsConfigFromJson,
  genericVhostUserConfigFromJson,
  netConfigFromJson,
  pmemConfigFromJson,
  restoreConfigFromJson,
  vdpaConfigFromJson,
  vmConfigFromJson,
  vsockConfigFromJson,
} from '../vmm/config/from-json.ts';
import {
  addUserDeviceFromJson,
  coredumpFromJson,
  receiveMigrationFromJson,
  removeDeviceFromJson,
  resizeDiskFromJson,
  resizeFromJson,
  resizeZoneFromJson,
  sendMigrationFromJson,
  snapshotFromJson,
} from './request-bodies.ts';
import type { BodySchema } from './body-schemas.ts';

export const API_ROOT = '/api/v1';

export type HttpMethod = 'GET' | 'PUT';

/** What a successful answer holds: nothing (204), a body (200), or either (hot-plug 200, cold-plug 204). */
export type ResponseShape =
  | { kind: 'empty' }
  | { kind: 'body'; schema: BodySchema }
  | { kind: 'body-or-empty'; schema: BodySchema };

type ActionOf<K extends VmmActionKind> = Extract<VmmAction, { kind: K }>;

export interface Route<K extends VmmActionKind = VmmActionKind> {
  method: HttpMethod;
  /** The schema of the JSON body; endpoints without one ignore any body (as upstream). */
  request?: BodySchema;
  /** Whether file descriptors may be passed with the request. */
  acceptsFds: boolean;
  response: ResponseShape;
  /**
   * The action for a body that passed `request`'s schema (undefined without one) and the passed descriptors.
   * Throws ConfigError or VmmActionError.
   */
  action(body: unknown, fds: number[]): ActionOf<K>;
}

/**
 * Applies a body parser to a request body. The worker checked the body against the route's schema, which the
 * parser's input type mirrors; this is the one place that relies on it.
 */
function parse<In, Out>(parser: (json: In) => Out, body: unknown): Out {
  return parser(body as In);
}

const EMPTY = { kind: 'empty' } as const;
const DEVICE_ADDED = { kind: 'body-or-empty', schema: 'PciDeviceInfo' } as const;

/** A body-less PUT endpoint answering 204. */
function command<K extends VmmActionKind>(kind: K): Route<K> {
  return { method: 'PUT', acceptsFds: false, response: EMPTY, action: () => ({ kind }) as ActionOf<K> };
}

/** A PUT endpoint with a body and a 204 answer. */
function update<K extends VmmActionKind>(request: BodySchema, action: (body: unknown, fds: number[]) => ActionOf<K>, acceptsFds = false): Route<K> {
  return { method: 'PUT', request, acceptsFds, response: EMPTY, action };
}

/** A `vm.add-*` endpoint: a device config, answered with the new device's PCI address (or 204 before boot). */
function addDevice<K extends VmmActionKind>(request: BodySchema, action: (body: unknown, fds: number[]) => ActionOf<K>, acceptsFds = false): Route<K> {
  return { method: 'PUT', request, acceptsFds, response: DEVICE_ADDED, action };
}

export const ROUTES: { readonly [K in VmmActionKind]: Route<K> } = {
  'vmm.ping': { method: 'GET', acceptsFds: false, response: { kind: 'body', schema: 'VmmPingResponse' }, action: () => ({ kind: 'vmm.ping' }) },
  'vmm.shutdown': command('vmm.shutdown'),
  'vm.info': { method: 'GET', acceptsFds: false, response: { kind: 'body', schema: 'VmInfo' }, action: () => ({ kind: 'vm.info' }) },
  'vm.counters': { method: 'GET', acceptsFds: false, response: { kind: 'body', schema: 'VmCounters' }, action: () => ({ kind: 'vm.counters' }) },
  'vm.create': {
    method: 'PUT',
    request: 'VmConfig',
    acceptsFds: true,
    response: EMPTY,
    // The VMM validates the configuration (validateVmConfig, checkSupported) as it does the CLI's.
    action: (body, fds) => ({ kind: 'vm.create', ...parse(vmConfigFromJson, body), fds }),
  },
  'vm.delete': command('vm.delete'),
  'vm.boot': command('vm.boot'),
  'vm.pause': command('vm.pause'),
  'vm.resume': command('vm.resume'),
  'vm.shutdown': command('vm.shutdown'),
  'vm.reboot': command('vm.reboot'),
  'vm.power-button': command('vm.power-button'),
  'vm.nmi': command('vm.nmi'),
  'vm.resize': update('VmResize', (body) => ({ kind: 'vm.resize', body: parse(resizeFromJson, body) })),
  'vm.resize-disk': update('VmResizeDisk', (body) => ({ kind: 'vm.resize-disk', body: parse(resizeDiskFromJson, body) })),
  'vm.resize-zone': update('VmResizeZone', (body) => ({ kind: 'vm.resize-zone', body: parse(resizeZoneFromJson, body) })),
  'vm.add-device': addDevice('DeviceConfig', (body, fds) => ({ kind: 'vm.add-device', config: parse(deviceConfigFromJson, body), fds }), true),
  'vm.add-disk': addDevice('DiskConfig', (body, fds) => ({ kind: 'vm.add-disk', config: parse(diskConfigFromJson, body), fds })),
  'vm.add-fs': addDevice('FsConfig', (body, fds) => ({ kind: 'vm.add-fs', config: parse(fsConfigFromJson, body), fds })),
  'vm.add-generic-vhost-user': addDevice('GenericVhostUserConfig', (body, fds) => ({
    kind: 'vm.add-generic-vhost-user',
    config: parse(genericVhostUserConfigFromJson, body),
    fds,
  })),
  'vm.add-pmem': addDevice('PmemConfig', (body, fds) => ({ kind: 'vm.add-pmem', config: parse(pmemConfigFromJson, body), fds })),
  'vm.add-net': addDevice('NetConfig', (body, fds) => ({ kind: 'vm.add-net', config: parse(netConfigFromJson, body), fds }), true),
  'vm.add-vsock': addDevice('VsockConfig', (body, fds) => ({ kind: 'vm.add-vsock', config: parse(vsockConfigFromJson, body), fds })),
  'vm.add-vdpa': addDevice('VdpaConfig', (body, fds) => ({ kind: 'vm.add-vdpa', config: parse(vdpaConfigFromJson, body), fds })),
  'vm.add-user-device': addDevice('VmAddUserDevice', (body, fds) => ({
    kind: 'vm.add-user-device',
    config: parse(addUserDeviceFromJson, body),
    fds,
  })),
  'vm.remove-device': update('VmRemoveDevice', (body) => ({ kind: 'vm.remove-device', body: parse(removeDeviceFromJson, body) })),
  'vm.snapshot': update('VmSnapshotConfig', (body) => ({ kind: 'vm.snapshot', body: parse(snapshotFromJson, body) })),
  'vm.coredump': update('VmCoredumpData', (body) => ({ kind: 'vm.coredump', body: parse(coredumpFromJson, body) })),
  'vm.restore': update('RestoreConfig', (body, fds) => ({ kind: 'vm.restore', body: parse(restoreConfigFromJson, body), fds }), true),
  'vm.receive-migration': update(
    'ReceiveMigrationData',
    (body, fds) => ({ kind: 'vm.receive-migration', body: parse(receiveMigrationFromJson, body), fds }),
    true,
  ),
  'vm.send-migration': update('SendMigrationData', (body) => ({ kind: 'vm.send-migration', body: parse(sendMigrationFromJson, body) })),
};

/** The endpoint a request path names (`/api/v1/vm.info` -> `vm.info`), if it is one. */
export function endpointOf(path: string): VmmActionKind | undefined {
  if (!path.startsWith(`${API_ROOT}/`)) return undefined;
  const name = path.slice(API_ROOT.length + 1);
  return Object.hasOwn(ROUTES, name) ? (name as VmmActionKind) : undefined;
}

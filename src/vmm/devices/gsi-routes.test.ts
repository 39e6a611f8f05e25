/** Tests of the shared GSI route table and of the irqfd MSI router over the fake hypervisor. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeVm } from '../../hypervisor/fake/fake-hypervisor.ts';
import type { GsiRoute } from '../../hypervisor/hypervisor.ts';
import { RecordingLogger } from '../../../test/helpers/device-fakes.ts';
import { CountingInterruptLine } from '../../../test/helpers/fakes.ts';
import { DEFAULT_IRQCHIP_ROUTES, FIRST_MSI_GSI, GsiRouteTable, KVM_MAX_IRQ_ROUTES, MSI_GSI_CAPACITY } from './gsi-routes.ts';
import { IrqfdMsiRouter } from './irqfd-msi-router.ts';

const MESSAGE = { addressLo: 0xfee0_1000, addressHi: 0, data: 0x30 };

test('the default routes are the ones KVM_CREATE_IRQCHIP installs', () => {
  assert.equal(DEFAULT_IRQCHIP_ROUTES.length, 40);
  const routesOf = (gsi: number): GsiRoute[] => DEFAULT_IRQCHIP_ROUTES.filter((route) => route.gsi === gsi);
  assert.deepEqual(routesOf(0), [
    { gsi: 0, kind: 'irqchip', chip: 'ioapic', pin: 0 },
    { gsi: 0, kind: 'irqchip', chip: 'pic-master', pin: 0 },
  ]);
  assert.deepEqual(routesOf(4), [
    { gsi: 4, kind: 'irqchip', chip: 'ioapic', pin: 4 },
    { gsi: 4, kind: 'irqchip', chip: 'pic-master', pin: 4 },
  ]);
  assert.deepEqual(routesOf(10), [
    { gsi: 10, kind: 'irqchip', chip: 'ioapic', pin: 10 },
    { gsi: 10, kind: 'irqchip', chip: 'pic-slave', pin: 2 },
  ]);
  assert.deepEqual(routesOf(23), [{ gsi: 23, kind: 'irqchip', chip: 'ioapic', pin: 23 }]);
  assert.equal(MSI_GSI_CAPACITY + DEFAULT_IRQCHIP_ROUTES.length, KVM_MAX_IRQ_ROUTES);
});

test('MSI routes are added to and removed from the full table, which is installed on every change', () => {
  const vm = new FakeVm();
  const table = new GsiRouteTable(GsiRouteTable.create(), vm, 'spin');
  const first = table.allocate(2);
  const third = table.allocate();
  assert.deepEqual([first, third], [FIRST_MSI_GSI, FIRST_MSI_GSI + 2]);
  assert.deepEqual(vm.routes, [], 'allocating changes nothing in the kernel');

  table.setMsiRoute(first + 1, { addressLo: 0xfee0_0000, addressHi: 0x1, data: 0x4031 });
  table.setMsiRoute(third, MESSAGE);
  assert.deepEqual(vm.routes, [
    ...DEFAULT_IRQCHIP_ROUTES,
    { gsi: 25, kind: 'msi', address: 0x1_fee0_0000n, data: 0x4031 },
    { gsi: 26, kind: 'msi', address: 0xfee0_1000n, data: 0x30 },
  ]);
  table.setMsiRoute(first + 1, undefined);
  assert.deepEqual(vm.routes, [...DEFAULT_IRQCHIP_ROUTES, { gsi: 26, kind: 'msi', address: 0xfee0_1000n, data: 0x30 }]);
  assert.deepEqual(table.routes(), vm.routes);
});

test('a second thread opening the same table sees and extends the same routes', () => {
  const buffer = GsiRouteTable.create(8);
  const mainVm = new FakeVm();
  const workerVm = new FakeVm();
  const main = new GsiRouteTable(buffer, mainVm, 'spin');
  const other = new GsiRouteTable(buffer, workerVm, 'spin');
  main.setMsiRoute(main.allocate(), MESSAGE);
  other.setMsiRoute(other.allocate(), { ...MESSAGE, data: 0x31 });
  assert.deepEqual(
    workerVm.routes.filter((route) => route.kind === 'msi').map((route) => route.gsi),
    [24, 25],
    'the last writer installed both routes',
  );
});

test('allocation beyond the capacity and routes for GSIs never allocated are refused', () => {
  const table = new GsiRouteTable(GsiRouteTable.create(2), new FakeVm(), 'spin');
  table.allocate(2);
  assert.throws(() => table.allocate(), { code: 'GSI_EXHAUSTED' });
  assert.throws(() => table.setMsiRoute(FIRST_MSI_GSI + 2, MESSAGE), { code: 'GSI_INVALID' });
  assert.throws(() => table.setMsiRoute(4, MESSAGE), { code: 'GSI_INVALID' });
  assert.throws(() => GsiRouteTable.create(MSI_GSI_CAPACITY + 1), { code: 'GSI_INVALID' });
});

test('the router gives a vector a GSI and an irqfd when it is first unmasked, and drops the route when masked', () => {
  const vm = new FakeVm();
  const table = new GsiRouteTable(GsiRouteTable.create(), vm, 'spin');
  const lines = new Map<number, CountingInterruptLine>();
  const router = new IrqfdMsiRouter(
    table,
    {
      create: (gsi) => {
        const line = new CountingInterruptLine();
        lines.set(gsi, line);
        return line;
      },
    },
    new RecordingLogger(),
    '__rng',
  );
  const msiRoutes = (): GsiRoute[] => vm.routes.filter((route) => route.kind === 'msi');
  router.route(1, MESSAGE, true);
  assert.equal(lines.size, 0, 'a masked vector never routed takes no GSI');
  router.route(1, MESSAGE, false);
  router.route(0, { ...MESSAGE, data: 0x31 }, false);
  assert.deepEqual([...lines.keys()], [24, 25], 'vector 1 got the first GSI, vector 0 the second');
  assert.deepEqual(msiRoutes(), [
    { gsi: 24, kind: 'msi', address: 0xfee0_1000n, data: 0x30 },
    { gsi: 25, kind: 'msi', address: 0xfee0_1000n, data: 0x31 },
  ]);
  router.inject(1);
  router.inject(1);
  router.inject(0);
  router.inject(7);
  assert.deepEqual([lines.get(24)?.count, lines.get(25)?.count], [2, 1]);

  router.route(1, MESSAGE, true);
  assert.deepEqual(
    msiRoutes().map((route) => route.gsi),
    [25],
  );
  router.route(1, { ...MESSAGE, data: 0x40 }, false);
  assert.deepEqual(msiRoutes(), [
    { gsi: 24, kind: 'msi', address: 0xfee0_1000n, data: 0x40 },
    { gsi: 25, kind: 'msi', address: 0xfee0_1000n, data: 0x31 },
  ]);
  assert.equal(lines.size, 2, 'the vector kept its GSI and irqfd');
});

test('a route the hypervisor refuses is logged, not thrown at the guest', () => {
  const vm = new FakeVm();
  vm.setGsiRouting = () => {
    throw new Error('KVM_SET_GSI_ROUTING: EINVAL');
  };
  const logger = new RecordingLogger();
  const router = new IrqfdMsiRouter(new GsiRouteTable(GsiRouteTable.create(), vm, 'spin'), { create: () => new CountingInterruptLine() }, logger, '__rng');
  router.route(0, MESSAGE, false);
  assert.deepEqual(logger.lines, [{ level: 'warn', message: '__rng: MSI-X vector 0 cannot be routed: KVM_SET_GSI_ROUTING: EINVAL' }]);
});

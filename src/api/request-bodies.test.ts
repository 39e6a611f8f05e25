/** Non-config request bodies: nulls dropped, serde defaults filled, fields the actions cannot carry refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VmmActionError } from '../vmm/actions.ts';
import { ConfigError } from '../vmm/config/config-error.ts';
import { addUserDeviceFromJson, receiveMigrationFromJson, resizeFromJson, resizeZoneFromJson } from './request-bodies.ts';

test('null fields are absent', () => {
  assert.deepEqual(resizeFromJson({ desired_vcpus: null, desired_ram: 1 << 30, desired_balloon: null }), { desired_ram: 1 << 30 });
  assert.deepEqual(addUserDeviceFromJson({ socket: '/s', pci_segment: null }), { socket: '/s' });
});

test('receive-migration fills its defaults and refuses VFIO and iommufd descriptors', () => {
  assert.deepEqual(receiveMigrationFromJson({ receiver_url: 'unix:/s', tls_dir: null, vfio_fds: null, iommufd_fd: null }), {
    receiver_url: 'unix:/s',
    memory_mode: 'Precopy',
    zone_updates: [],
  });
  assert.throws(
    () => receiveMigrationFromJson({ receiver_url: 'unix:/s', vfio_fds: [{ id: 'vfio0' }] }),
    (error: VmmActionError) => error.code === 'NOT_IMPLEMENTED' && /vfio_fds \(VFIO devices\) is not supported by Nimbus yet/.test(error.message),
  );
  assert.throws(() => receiveMigrationFromJson({ receiver_url: 'unix:/s', iommufd_fd: 3 }), { code: 'NOT_IMPLEMENTED' });
});

test('a missing required field names itself', () => {
  assert.throws(() => resizeZoneFromJson({ id: 'z' }), (error: ConfigError) => error.code === 'MISSING_VALUE' && error.field === 'desired_ram');
});

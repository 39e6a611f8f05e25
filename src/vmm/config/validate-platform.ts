/**
 * Validation rules about the machine's layout (part of `validateVmConfig`): where PCI devices may be placed, the
 * platform's PCI segments and IOMMU settings, `--pci-segment` weights and NUMA nodes (vmm/src/config.rs
 * `PciDeviceCommonConfig::validate`, `PlatformConfig::validate`, `PciSegmentConfig::validate`, `NumaConfig::validate`).
 */
import { configError } from './config-error.ts';
import { DEFAULT_NUM_PCI_SEGMENTS } from './defaults.ts';
import type { NumaConfig, PciDeviceCommonConfig, PlatformConfig, VmConfig } from './vm-config.ts';

const MAX_NUM_PCI_SEGMENTS = 96;
const MAX_IOMMU_ADDRESS_WIDTH_BITS = 64;
const PCI_DEVICE_SLOTS = 32;

function segmentCount(platform: PlatformConfig | undefined): number {
  return platform?.num_pci_segments ?? DEFAULT_NUM_PCI_SEGMENTS;
}

/** The segment must exist, IOMMU segments need `iommu=on`, and slot 0 of segment 0 belongs to the host bridge. */
export function validatePciPlacement(device: PciDeviceCommonConfig, field: string, platform: PlatformConfig | undefined): void {
  const segments = segmentCount(platform);
  if (device.pci_segment >= segments) {
    throw configError(
      'INVALID_PCI_PLACEMENT',
      `${field}.pci_segment`,
      `pci_segment=${device.pci_segment} does not exist: the platform has ${segments} (--platform num_pci_segments)`,
    );
  }
  if (platform?.iommu_segments?.includes(device.pci_segment) === true && !device.iommu) {
    throw configError(
      'INVALID_PCI_PLACEMENT',
      `${field}.iommu`,
      `pci_segment=${device.pci_segment} is an IOMMU segment (--platform iommu_segments); add iommu=on to this device`,
    );
  }
  const slot = device.pci_device_id;
  if (slot === undefined) return;
  if (slot >= PCI_DEVICE_SLOTS) {
    throw configError(
      'INVALID_PCI_PLACEMENT',
      `${field}.pci_device_id`,
      `pci_device_id=${slot} is out of range; use 1 to ${PCI_DEVICE_SLOTS - 1}`,
    );
  }
  if (slot === 0 && device.pci_segment === 0) {
    throw configError(
      'INVALID_PCI_PLACEMENT',
      `${field}.pci_device_id`,
      'pci_device_id=0 on PCI segment 0 is reserved for the host bridge',
    );
  }
}

export function validatePlatform(platform: PlatformConfig): void {
  if (platform.num_pci_segments < 1 || platform.num_pci_segments > MAX_NUM_PCI_SEGMENTS) {
    throw configError(
      'INVALID_VALUE',
      'platform.num_pci_segments',
      `num_pci_segments=${platform.num_pci_segments} is not in the range 1 to ${MAX_NUM_PCI_SEGMENTS}`,
    );
  }
  const outside = platform.iommu_segments?.find((segment) => segment >= platform.num_pci_segments);
  if (outside !== undefined) {
    throw configError(
      'INVALID_PCI_PLACEMENT',
      'platform.iommu_segments',
      `IOMMU segment ${outside} does not exist: num_pci_segments=${platform.num_pci_segments}`,
    );
  }
  if (platform.iommu_address_width_bits > MAX_IOMMU_ADDRESS_WIDTH_BITS) {
    throw configError(
      'INVALID_VALUE',
      'platform.iommu_address_width_bits',
      `iommu_address_width=${platform.iommu_address_width_bits} is above ${MAX_IOMMU_ADDRESS_WIDTH_BITS}`,
    );
  }
  if (platform.iommufd_fd !== undefined && !platform.iommufd) {
    throw configError('CONFLICTING_VALUES', 'platform.iommufd', 'iommufd_fd=<fd> needs iommufd=on');
  }
}

export function validatePciSegments(config: VmConfig): void {
  const segments = segmentCount(config.platform);
  config.pci_segments?.forEach((segment, index) => {
    const field = `pci_segments[${index}]`;
    if (segment.pci_segment >= segments) {
      throw configError(
        'INVALID_PCI_PLACEMENT',
        `${field}.pci_segment`,
        `pci_segment=${segment.pci_segment} does not exist: the platform has ${segments}`,
      );
    }
    if (segment.mmio32_aperture_weight === 0) {
      throw configError('INVALID_VALUE', `${field}.mmio32_aperture_weight`, 'an aperture weight cannot be 0');
    }
    if (segment.mmio64_aperture_weight === 0) {
      throw configError('INVALID_VALUE', `${field}.mmio64_aperture_weight`, 'an aperture weight cannot be 0');
    }
  });
}

/** A node is either a generic initiator (`device_id`) or has CPUs and/or memory zones; lists are not empty. */
function validateNumaNode(node: NumaConfig, field: string): void {
  if (node.device_id !== undefined) {
    if (node.cpus !== undefined || node.memory_zones !== undefined) {
      throw configError(
        'CONFLICTING_VALUES',
        `${field}.device_id`,
        'device_id is mutually exclusive with cpus and memory_zones',
      );
    }
    if (node.device_id === '') throw configError('INVALID_VALUE', `${field}.device_id`, 'device_id cannot be empty');
    return;
  }
  if (node.cpus === undefined && node.memory_zones === undefined) {
    throw configError('MISSING_VALUE', field, 'a NUMA node must specify either device_id or cpus/memory_zones');
  }
  if (node.cpus?.length === 0) throw configError('INVALID_VALUE', `${field}.cpus`, 'the cpus list cannot be empty');
  if (node.cpus === undefined && node.memory_zones?.length === 0) {
    throw configError('INVALID_VALUE', `${field}.memory_zones`, 'the memory_zones list cannot be empty');
  }
}

/** Each memory zone and PCI segment belongs to at most one node; PCI segment 0 stays on node 0. */
export function validateNuma(config: VmConfig): void {
  const segments = segmentCount(config.platform);
  const zoneOwner = new Map<string, number>();
  const segmentOwner = new Map<number, number>();
  config.numa?.forEach((node, index) => {
    const field = `numa[${index}]`;
    validateNumaNode(node, field);
    for (const zone of node.memory_zones ?? []) {
      const owner = zoneOwner.get(zone);
      if (owner !== undefined) {
        throw configError(
          'CONFLICTING_VALUES',
          `${field}.memory_zones`,
          `memory zone ${zone} belongs to NUMA nodes ${owner} and ${node.guest_numa_id}`,
        );
      }
      zoneOwner.set(zone, node.guest_numa_id);
    }
    for (const segment of node.pci_segments ?? []) {
      if (segment >= segments) {
        throw configError(
          'INVALID_PCI_PLACEMENT',
          `${field}.pci_segments`,
          `PCI segment ${segment} does not exist: the platform has ${segments}`,
        );
      }
      if (segment === 0 && node.guest_numa_id !== 0) {
        throw configError(
          'INVALID_PCI_PLACEMENT',
          `${field}.pci_segments`,
          `the default PCI segment 0 must stay on NUMA node 0, not ${node.guest_numa_id}`,
        );
      }
      const owner = segmentOwner.get(segment);
      if (owner !== undefined) {
        throw configError(
          'CONFLICTING_VALUES',
          `${field}.pci_segments`,
          `PCI segment ${segment} belongs to NUMA nodes ${owner} and ${node.guest_numa_id}`,
        );
      }
      segmentOwner.set(segment, node.guest_numa_id);
    }
  });
}

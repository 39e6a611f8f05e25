/**
 * The `nimbus` program: parses Cloud Hypervisor's command line, sets up logging, the serial console and (with
 * --api-socket) the REST API, and drives the VM through the VMM's actions: the command line's VM is a vm.create +
 * vm.boot, exactly as an API client's would be. The process exits with status 0
 * when the guest powers off (a guest reset reboots the VM) and 1 on a triple fault or a hypervisor error;
 * SIGINT/SIGTERM stop the VM cleanly.
 */
import { closeSync, openSync } from 'node:fs';
import { NimbusError } from '../errors/nimbus-error.ts';
import { fdSink, lineWriter } from '../host/fd-sink.ts';
import { packageVersion } from '../host/package-root.ts';
import { KvmHypervisor } from '../hypervisor/kvm/kvm-hypervisor.ts';
import { createLogger, levelFromVerbosity, type Logger } from '../util/logger.ts';
import type { VmConfig } from '../vmm/config/vm-config.ts';
import { ApiServer } from '../api/api-server.ts';
import { EventMonitor } from '../vmm/event-monitor.ts';
import { Vmm } from '../vmm/vmm.ts';
import { parseCommandLine, type RunCommand } from './args.ts';
import { attachSerialInput } from './serial-input.ts';

/** Runs nimbus with `args` (without the program name); resolves to the process exit status. */
export async function main(args: readonly string[]): Promise<number> {
  const startTime = process.hrtime.bigint();
  let command;
  try {
    command = parseCommandLine(args, packageVersion());
  } catch (error) {
    return reportFatal(error);
  }
  if (command.kind !== 'run') {
    process.stdout.write(`${command.text}\n`);
    return 0;
  }
  const logFd = command.vmm.logFile ? openSync(command.vmm.logFile, 'a', 0o600) : 2;
  const logger = createLogger({
    level: levelFromVerbosity(command.vmm.verbosity),
    thread: 'vmm',
    now: () => Number(process.hrtime.bigint() - startTime) / 1e9,
    writeLine: lineWriter(fdSink(logFd)),
  });
  for (const warning of command.warnings) logger.warn(warning);
  if (command.vmm.seccomp === undefined) {
    logger.warn('seccomp filtering is not implemented yet: the VMM runs without a syscall filter (pass --seccomp false to acknowledge)');
  }
  try {
    return await run(command, { logger, logFd, startTime });
  } catch (error) {
    return reportFatal(error, logger);
  } finally {
    if (logFd !== 2) closeSync(logFd);
  }
}

async function run(command: RunCommand, context: { logger: Logger; logFd: number; startTime: bigint }): Promise<number> {
  const { logger } = context;
  const apiSocket = command.vmm.apiSocket;
  if (!command.vm && !apiSocket) {
    logger.error('no --kernel or --firmware given and no --api-socket: there is nothing to boot and no way to create a VM');
    return 1;
  }
  const hypervisor = KvmHypervisor.open();
  let resolveExit!: (status: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  let detachInput = (): void => {};
  const events = EventMonitor.open(command.vmm.eventMonitor, { logger, startTime: context.startTime });
  const vmm = new Vmm({
    hypervisor,
    version: packageVersion(),
    logger,
    logLevel: levelFromVerbosity(command.vmm.verbosity),
    logFd: context.logFd,
    startTime: context.startTime,
    events,
    openSerialOutput,
    closeSerialOutput: (fd) => {
      if (fd > 2) closeSync(fd);
    },
    noShutdown: command.vmm.noShutdown,
    onExit: resolveExit,
    onMachine: (machine) => {
      detachInput();
      detachInput = machine.config.serial.mode === 'Tty' ? attachSerialInput(machine) : () => {};
    },
  });
  const onSignal = (signal: string): void => {
    logger.info(`received ${signal}: stopping the VM`);
    vmm.handle({ kind: 'vmm.shutdown' }).catch((error: Error) => logger.error(`stopping the VM: ${error.message}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // With --no-shutdown the VMM outlives the guest; nothing else keeps Node's event loop alive then.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  let api: ApiServer | undefined;
  try {
    if (apiSocket) api = await ApiServer.start({ socket: apiSocket, control: vmm, logger });
    if (command.vm) {
      await vmm.handle({ kind: 'vm.create', config: command.vm, explicitFields: command.explicitFields, fds: [] });
      await vmm.handle({ kind: 'vm.boot' });
    }
    return await exited;
  } finally {
    await api?.stop();
    clearInterval(keepAlive);
    detachInput();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await vmm.handle({ kind: 'vm.delete' });
    await events.close();
    hypervisor.close();
  }
}

function openSerialOutput(config: VmConfig): number | undefined {
  switch (config.serial.mode) {
    case 'Tty':
      return 1;
    case 'File':
      return openSync(config.serial.file!, 'w', 0o600);
    default:
      return undefined;
  }
}

function reportFatal(error: unknown, logger?: Logger): number {
  if (error instanceof NimbusError) {
    if (logger) logger.error(error.message);
    else process.stderr.write(`nimbus: error: ${error.message}\n`);
    return 1;
  }
  throw error;
}

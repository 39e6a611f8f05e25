/**
 * The `nimbus` program: parses Cloud Hypervisor's command line, sets up logging and the serial console, boots the
 * VM and runs it until the guest powers off (exit 0), reboots it on a guest reset, and stops with exit status 1 on a
 * triple fault or a hypervisor error. SIGINT/SIGTERM stop the VM cleanly.
 */
import { closeSync, openSync } from 'node:fs';
import { NimbusError } from '../errors/nimbus-error.ts';
import { fdSink, lineWriter } from '../host/fd-sink.ts';
import { packageVersion } from '../host/package-root.ts';
import { KvmHypervisor } from '../hypervisor/kvm/kvm-hypervisor.ts';
import { createLogger, levelFromVerbosity, type Logger } from '../util/logger.ts';
import type { VmConfig } from '../vmm/config/vm-config.ts';
import { Machine, type MachineExit } from '../vmm/machine.ts';
import { parseCommandLine } from './args.ts';
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
  const logLevel = levelFromVerbosity(command.vmm.verbosity);
  const logger = createLogger({
    level: logLevel,
    thread: 'vmm',
    now: () => Number(process.hrtime.bigint() - startTime) / 1e9,
    writeLine: lineWriter(fdSink(logFd)),
  });
  for (const warning of command.warnings) logger.warn(warning);
  if (!command.vm) {
    logger.error('no --kernel or --firmware given: there is nothing to boot (creating a VM later through --api-socket is not supported yet)');
    return 1;
  }
  try {
    return await runVm(command.vm, { logger, logLevel, logFd, startTime });
  } catch (error) {
    return reportFatal(error, logger);
  } finally {
    if (logFd !== 2) closeSync(logFd);
  }
}

interface RunContext {
  logger: Logger;
  logLevel: ReturnType<typeof levelFromVerbosity>;
  logFd: number;
  startTime: bigint;
}

async function runVm(config: VmConfig, context: RunContext): Promise<number> {
  const { logger } = context;
  const serialOutputFd = openSerialOutput(config);
  const hypervisor = KvmHypervisor.open();
  let machine: Machine | undefined;
  let stopRequested = false;
  const onSignal = (signal: string): void => {
    logger.info(`received ${signal}: stopping the VM`);
    stopRequested = true;
    void machine?.destroy();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (;;) {
      machine = await Machine.boot({ config, hypervisor, ...context, serialOutputFd });
      const detachInput = config.serial.mode === 'Tty' ? attachSerialInput(machine) : () => {};
      const exit = await machine.exited;
      detachInput();
      await machine.destroy();
      if (stopRequested) return 0;
      const status = exitStatus(exit, logger);
      if (status !== undefined) return status;
      logger.info('the guest requested a reset: rebooting the VM');
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    hypervisor.close();
    if (serialOutputFd !== undefined && serialOutputFd > 2) closeSync(serialOutputFd);
  }
}

/** Exit status for a machine exit, or undefined to reboot. */
function exitStatus(exit: MachineExit, logger: Logger): number | undefined {
  switch (exit.kind) {
    case 'shutdown':
    case 'stopped':
      logger.info('the guest powered off');
      return 0;
    case 'reset':
      return undefined;
    case 'triple-fault':
      logger.error(`vCPU ${exit.vcpu} triple-faulted: the guest crashed`);
      return 1;
    case 'error':
      logger.error(`vCPU ${exit.vcpu} stopped: ${exit.message}`);
      return 1;
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

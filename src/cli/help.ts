/**
 * The `nimbus --help` text, in the style of Cloud Hypervisor's clap output: every option with its value syntax,
 * default and possible values, in upstream order; followed by what Nimbus implements so far.
 */
import { SUPPORTED_FEATURES } from '../vmm/config/supported.ts';
import { CLI_OPTIONS, type CliOptionSpec } from './option-table.ts';

const OPTION_INDENT = '  ';
const HELP_INDENT = ' '.repeat(10);

function usage(spec: CliOptionSpec): string {
  const names = [spec.short === undefined ? '   ' : `-${spec.short}${spec.long === undefined ? '' : ','}`];
  if (spec.long !== undefined) names.push(`--${spec.long}`);
  const values = { flag: '', count: '...', one: ` <${spec.id}>`, many: ` <${spec.id}>...`, optional: ` [<${spec.id}>]` };
  const value = values[spec.arity];
  return `${OPTION_INDENT}${names.join(' ')}${value}`.trimEnd();
}

function description(spec: CliOptionSpec): string {
  const notes = [];
  if (spec.defaultValue !== undefined) notes.push(`[default: ${spec.defaultValue}]`);
  if (spec.possibleValues !== undefined) notes.push(`[possible values: ${spec.possibleValues.join(', ')}]`);
  return [spec.help, ...notes].filter((part) => part !== '').join(' ');
}

export function helpText(): string {
  const lines = [
    'Launch a nimbus VMM (command line compatible with cloud-hypervisor).',
    '',
    'Usage: nimbus [OPTIONS]',
    '',
    'Options:',
  ];
  for (const spec of CLI_OPTIONS) {
    lines.push(usage(spec));
    for (const line of description(spec).split('\n')) lines.push(`${HELP_INDENT}${line}`);
  }
  lines.push('', 'Implemented by Nimbus so far (other options are rejected as "not supported by Nimbus yet"):');
  const width = Math.max(...SUPPORTED_FEATURES.map((feature) => feature.option.length));
  for (const feature of SUPPORTED_FEATURES) lines.push(`${OPTION_INDENT}${feature.option.padEnd(width)}  ${feature.scope}`);
  return lines.join('\n');
}

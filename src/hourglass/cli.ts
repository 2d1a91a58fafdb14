import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, parseDuration, parseInteger, UsageError } from '../cli/command.js';
import { hourglassCrdFiles } from './crds.js';
import { BEHAVIOURS, type Behaviour, startPerformerServer } from './grpc/performer-server.js';

const crdsCommand: Command = {
  name: 'hourglass crds',
  summary: 'Print the Performer CRD, or write it into a directory (config/crd).',
  options: {
    out: { type: 'string', description: 'directory to write one file per CRD into (e.g. config/crd)' },
  },
  async run(opts) {
    const files = hourglassCrdFiles();
    const out = opts['out'] as string | undefined;
    if (!out) {
      process.stdout.write([...files.values()].join(''));
      return 0;
    }
    await mkdir(out, { recursive: true });
    for (const [name, text] of files) await writeFile(join(out, name), text);
    return 0;
  },
};

const performerServerCommand: Command = {
  name: 'performer-server',
  summary:
    'Run the reference performer: eigenlayer.hourglass.v1.performer.PerformerService and grpc.health.v1 on one port.',
  options: {
    port: { type: 'string', description: 'gRPC port to listen on', default: '9090', env: 'PERFORMER_PORT' },
    host: { type: 'string', description: 'address to listen on', default: '0.0.0.0' },
    behaviour: {
      type: 'string',
      description: `how tasks are answered: ${BEHAVIOURS.join(' | ')} (echo returns the payload, delay echoes after --delay, fail fails every task)`,
      default: 'echo',
      env: 'PERFORMER_BEHAVIOUR',
    },
    delay: { type: 'string', description: 'how long the delay behaviour waits', default: '1s' },
  },
  async run(opts) {
    const behaviour = opts['behaviour'] as string;
    if (!BEHAVIOURS.includes(behaviour as Behaviour))
      throw new UsageError(`--behaviour: "${behaviour}" is not one of ${BEHAVIOURS.join(', ')}`);
    const server = await startPerformerServer({
      port: parseInteger(opts['port'] as string, 'port', 0, 65535),
      host: opts['host'] as string,
      behaviour: behaviour as Behaviour,
      delayMs: parseDuration(opts['delay'] as string, 'delay'),
    });
    process.stdout.write(`performer server listening on port ${server.port}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return 0;
  },
};

/** The hourglass module's `tutti` subcommands. */
export const hourglassCommands: Command[] = [crdsCommand, performerServerCommand];

import { execFile, spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { closeServer, listen } from '../runtime/http-server.js';

const run = promisify(execFile);

export interface GitHttpServerOptions {
  /** Directory holding bare repositories (`<owner>/<name>.git`). */
  readonly root: string;
  /** Basic-auth credentials every request must carry. */
  readonly username: string;
  readonly password: string;
  readonly host?: string;
}

/**
 * A git server over HTTP: git's own `git http-backend` CGI behind basic auth, so clients speak the
 * real smart-HTTP protocol as they would to Gitea. Used for the local SMO → edge setup and tests.
 */
export class GitHttpServer {
  private server?: Server;
  private boundPort = 0;

  constructor(private readonly opts: GitHttpServerOptions) {}

  get port(): number {
    return this.boundPort;
  }

  /** Listens on `port` (0 picks a free one; a restart reuses the previous port). */
  async start(port = this.boundPort): Promise<number> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.boundPort = await listen(server, port, this.opts.host ?? '127.0.0.1');
    this.server = server;
    return this.boundPort;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await closeServer(server);
  }

  /** Creates an empty bare repository whose default branch is `branch`; returns its URL. */
  async createRepository(path: string, branch = 'main'): Promise<string> {
    await run('git', [
      'init',
      '--quiet',
      '--bare',
      `--initial-branch=${branch}`,
      join(this.opts.root, `${path}.git`),
    ]);
    return this.url(path);
  }

  url(path: string): string {
    return `http://${this.opts.host ?? '127.0.0.1'}:${this.boundPort}/${path}.git`;
  }

  private authorised(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Basic ')) return false;
    const given = Buffer.from(header.slice(6), 'base64');
    const expected = Buffer.from(`${this.opts.username}:${this.opts.password}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorised(req)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      GIT_PROJECT_ROOT: this.opts.root,
      GIT_HTTP_EXPORT_ALL: '1',
      REMOTE_USER: this.opts.username,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      CONTENT_LENGTH: String(body.length),
      GIT_PROTOCOL: (req.headers['git-protocol'] as string | undefined) ?? '',
      HTTP_CONTENT_ENCODING: (req.headers['content-encoding'] as string | undefined) ?? '',
    };
    const cgi = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => out.push(c));
    cgi.stderr.on('data', (c: Buffer) => err.push(c));
    // The backend may exit before reading the whole request body (EPIPE); its output and exit code
    // still say what happened, so the write error itself is not the request's failure.
    cgi.stdin.on('error', () => {});
    cgi.stdin.end(body);
    const code = await new Promise<number>((resolve) => cgi.on('close', (c) => resolve(c ?? 1)));
    const response = Buffer.concat(out);
    const split = response.indexOf('\r\n\r\n');
    const headerEnd = split >= 0 ? split : response.indexOf('\n\n');
    if (headerEnd < 0) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`git http-backend failed (exit ${code}): ${Buffer.concat(err).toString()}`);
      return;
    }
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of response.subarray(0, headerEnd).toString().split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    res.end(response.subarray(headerEnd + (split >= 0 ? 4 : 2)));
  }
}

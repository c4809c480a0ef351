import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EdgeLink, type EdgeLinkOptions } from './edge-link.ts';

// The EDGE link with the kernel doing the rate: tbf on a veth pair into a network namespace.
// Only where it works (root, `ip netns`, `tc qdisc tbf`); kernel netem does not exist on these
// machines, so latency, stalls and the byte counters still come from the userspace EdgeLink,
// whose own pacing is turned off here. Tests do not use it; the benchmark does when it can.
//
//   client ─► EdgeLink (latency, stalls, counters) ─► TCP to <ns address> over the veth pair
//     host → netns: tbf at the up rate │ netns → host: tbf at the down rate
//   ─► relay in the namespace (a node child) ─► Unix socket (paths cross namespaces)
//   ─► forwarder in this process ─► the server on loopback
// Each direction crosses the veth pair once, so each gets its own rate; the kernel shapes
// what a real link carries (TCP/IP headers, and the ACKs that share the up direction).

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });

// Runs in the namespace: accepts on the veth address, pipes each connection to the Unix socket.
const RELAY = `
const net = require('node:net');
const [host, sock] = process.argv.slice(1);
const srv = net.createServer((c) => {
  const u = net.connect(sock);
  c.pipe(u); u.pipe(c);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
});
srv.listen(0, host, () => process.stdout.write(srv.address().port + '\\n'));
`;

let serial = 0;

/** Whether a namespace with tbf can be made here (tries one, and removes it). */
export function tbfAvailable(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const ns = `tocsin-probe-${process.pid}`;
  try {
    run('ip', ['netns', 'add', ns]);
    run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', '80kbit', 'burst', '1600', 'limit', '100000']);
    return true;
  } catch {
    return false;
  } finally {
    try {
      run('ip', ['netns', 'del', ns]);
    } catch {
      // was never made
    }
  }
}

export class TbfEdgeLink {
  readonly link: EdgeLink;
  readonly #ns: string;
  readonly #relay: ChildProcess;
  readonly #forwarder: net.Server;
  readonly #socketPath: string;

  private constructor(link: EdgeLink, ns: string, relay: ChildProcess, forwarder: net.Server, socketPath: string) {
    this.link = link;
    this.#ns = ns;
    this.#relay = relay;
    this.#forwarder = forwarder;
    this.#socketPath = socketPath;
  }

  static async start(options: EdgeLinkOptions): Promise<TbfEdgeLink> {
    const id = `${process.pid % 100_000}x${serial++}`;
    const ns = `tocsin-edge-${id}`;
    const [hostIf, nsIf] = [`te${id}h`.slice(0, 15), `te${id}n`.slice(0, 15)];
    const subnet = `10.213.${(process.pid + serial * 7) % 250}`;
    const socketPath = path.join(tmpdir(), `tocsin-edge-${id}.sock`);
    const inNs = (...args: string[]) => run('ip', ['netns', 'exec', ns, ...args]);
    // burst: the least tbf takes (one full-size packet); limit: a deep queue, as a modem has.
    const shape = (kbps: number) => ['root', 'tbf', 'rate', `${kbps}kbit`, 'burst', '1600', 'limit', '100000'];
    run('ip', ['netns', 'add', ns]);
    let relay: ChildProcess | undefined;
    let forwarder: net.Server | undefined;
    try {
      run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
      run('ip', ['link', 'set', nsIf, 'netns', ns]);
      run('ip', ['addr', 'add', `${subnet}.1/30`, 'dev', hostIf]);
      run('ip', ['link', 'set', hostIf, 'up']);
      inNs('ip', 'addr', 'add', `${subnet}.2/30`, 'dev', nsIf);
      inNs('ip', 'link', 'set', nsIf, 'up');
      run('tc', ['qdisc', 'add', 'dev', hostIf, ...shape(options.upKbps ?? 40)]);
      inNs('tc', 'qdisc', 'add', 'dev', nsIf, ...shape(options.downKbps ?? 80));

      // The forwarder: Unix socket (reached from the namespace) to the server.
      rmSync(socketPath, { force: true });
      forwarder = net.createServer((c) => {
        const s = net.connect({ host: options.target.host ?? '127.0.0.1', port: options.target.port });
        c.on('close', () => s.destroy());
        c.pipe(s);
        s.pipe(c);
        c.on('error', () => s.destroy());
        s.on('error', () => c.destroy());
      });
      await new Promise<void>((resolve, reject) => {
        forwarder!.once('error', reject);
        forwarder!.listen(socketPath, () => resolve());
      });

      relay = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', RELAY, `${subnet}.2`, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        relay!.stdout!.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('\n')) resolve(Number(out.trim()));
        });
        relay!.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
      });
      // The userspace link keeps latency, stalls and counters; the kernel does the rate.
      const link = await EdgeLink.start({ ...options, target: { host: `${subnet}.2`, port }, downKbps: Infinity, upKbps: Infinity });
      return new TbfEdgeLink(link, ns, relay, forwarder, socketPath);
    } catch (err) {
      relay?.kill('SIGKILL');
      forwarder?.close();
      run('ip', ['netns', 'del', ns]);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.link.close();
    const exited = new Promise<void>((resolve) => (this.#relay.exitCode !== null ? resolve() : this.#relay.once('exit', () => resolve())));
    this.#relay.kill('SIGTERM');
    await exited;
    await new Promise<void>((resolve) => this.#forwarder.close(() => resolve()));
    rmSync(this.#socketPath, { force: true });
    // Removing the namespace removes its end of the veth pair, and so the pair.
    run('ip', ['netns', 'del', this.#ns]);
  }
}

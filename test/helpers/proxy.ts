import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/**
 * An HTTP proxy between a client and the server under test, standing for the network: it forwards
 * requests (WebSocket upgrades too), can lose the answer of chosen requests after the server has acted
 * on them, and can be cut (`stop`: listening ends, every connection is destroyed) and restored on the
 * same port (`start` again).
 */
export class NetworkProxy {
  private server?: http.Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  /** Requests seen (body text), in order. */
  readonly requests: string[] = [];
  /** Answers to lose: the request is forwarded and answered by the server, then the client's connection is cut. */
  loseAnswerWhen: (body: string) => boolean = () => false;

  constructor(private readonly target: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const target = new URL(this.target);
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        this.requests.push(text);
        const lose = this.loseAnswerWhen(text);
        const upstream = http.request(
          { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } },
          (answer) => {
            const parts: Buffer[] = [];
            answer.on('data', (c: Buffer) => parts.push(c));
            answer.on('end', () => {
              if (lose) {
                req.socket.destroy();
                return;
              }
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              res.end(Buffer.concat(parts));
            });
          },
        );
        upstream.on('error', () => req.socket.destroy());
        upstream.end(body);
      });
    });
    // WebSockets: a raw pipe after the upgrade request.
    server.on('upgrade', (req, socket: Socket, head: Buffer) => {
      const upstream = http.request({
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: target.host },
      });
      upstream.on('upgrade', (answer, upSocket: Socket, upHead: Buffer) => {
        const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}`, ...Object.entries(answer.headers).map(([k, v]) => `${k}: ${String(v)}`)];
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (upHead.length) socket.write(upHead);
        if (head.length) upSocket.write(head);
        this.track(upSocket);
        socket.pipe(upSocket).pipe(socket);
        const close = () => {
          socket.destroy();
          upSocket.destroy();
        };
        socket.on('error', close).on('close', close);
        upSocket.on('error', close).on('close', close);
      });
      upstream.on('error', () => socket.destroy());
      upstream.end();
    });
    server.on('connection', (socket: Socket) => this.track(socket));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  /** The network goes away: nothing listens on the port, and every open connection is cut. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

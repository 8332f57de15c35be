import net from "node:net";
import { ErrorCode, ZooKeeperError } from "./errors.ts";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import {
  type ConnectRequest,
  type ConnectResponse,
  readConnectResponse,
  writeConnectRequest,
} from "./packets.ts";

/** A ZooKeeper member's client address. */
export interface ZooKeeperServer {
  host: string;
  port: number;
}

/**
 * One TCP connection to one member: the socket, the framing, the handshake and the read watchdog. The
 * session (which server, which session id, what to resend) is the client's business, not this one's.
 */
export class ZooKeeperConnection {
  readonly server: ZooKeeperServer;
  readonly #socket: net.Socket;
  readonly #decoder: FrameDecoder;
  #onPacket: (packet: Buffer) => void = () => {};
  #closeListeners: Array<(error: Error | undefined) => void> = [];
  #early: Buffer[] = [];
  #closed = false;
  #closeError: Error | undefined;
  #readTimer: NodeJS.Timeout | undefined;
  #readTimeoutMs = 0;
  /** When the last packet was written (performance.now()), for the ping schedule. */
  lastSendAt = 0;

  private constructor(server: ZooKeeperServer, socket: net.Socket, maxPacketBytes: number) {
    this.server = server;
    this.#socket = socket;
    this.#decoder = new FrameDecoder(maxPacketBytes);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#data(chunk));
    socket.on("error", (error) => this.destroy(error));
    socket.on("close", () => this.destroy());
  }

  /** Opens a TCP connection, rejecting with CONNECTIONLOSS on error or after `timeoutMs`. */
  static open(
    server: ZooKeeperServer,
    timeoutMs: number,
    maxPacketBytes: number,
  ): Promise<ZooKeeperConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: server.host, port: server.port });
      const where = `${server.host}:${server.port}`;
      const fail = (message: string, cause?: unknown) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ZooKeeperError(ErrorCode.CONNECTIONLOSS, `${where}: ${message}`, undefined, { cause }));
      };
      const timer = setTimeout(() => fail(`no TCP connection in ${timeoutMs} ms`), timeoutMs);
      socket.once("error", (error) => fail(error.message, error));
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new ZooKeeperConnection(server, socket, maxPacketBytes));
      });
    });
  }

  /**
   * Sends the ConnectRequest and resolves with the ConnectResponse, the first packet back; rejects with
   * CONNECTIONLOSS when the server closes first (a member without a quorum, or one behind the zxid this
   * session has seen, refuses that way) or after `timeoutMs`.
   */
  handshake(request: ConnectRequest, timeoutMs: number): Promise<ConnectResponse> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.destroy(new Error(`no ConnectResponse in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const unlisten = this.onClose((error) => {
        clearTimeout(timer);
        reject(
          new ZooKeeperError(
            ErrorCode.CONNECTIONLOSS,
            `${this.server.host}:${this.server.port} closed before the ConnectResponse${error ? ` (${error.message})` : ""}`,
          ),
        );
      });
      this.#onPacket = (packet) => {
        clearTimeout(timer);
        unlisten();
        // Packets after the ConnectResponse in the same chunk wait for setPacketHandler().
        this.#onPacket = (early) => {
          this.#early.push(early);
        };
        try {
          resolve(readConnectResponse(packet));
        } catch (error) {
          this.destroy(error as Error);
          reject(error);
        }
      };
      this.send(writeConnectRequest(request));
    });
  }

  /** Where packets after the handshake go. */
  setPacketHandler(handler: (packet: Buffer) => void): void {
    this.#onPacket = handler;
    const early = this.#early;
    this.#early = [];
    for (const packet of early) {
      if (this.#closed) return;
      try {
        handler(packet);
      } catch (error) {
        this.destroy(error as Error);
        return;
      }
    }
  }

  /** Calls `listener` once when the connection closes (at once if it has); returns an unsubscribe. */
  onClose(listener: (error: Error | undefined) => void): () => void {
    if (this.#closed) {
      listener(this.#closeError);
      return () => {};
    }
    this.#closeListeners.push(listener);
    return () => {
      this.#closeListeners = this.#closeListeners.filter((l) => l !== listener);
    };
  }

  /**
   * Declares the connection dead when no byte arrives for `ms` (the server answers a ping well within it).
   * 0 turns the watchdog off.
   */
  setReadTimeout(ms: number): void {
    this.#readTimeoutMs = ms;
    this.#armReadTimer();
  }

  #armReadTimer(): void {
    if (this.#readTimer !== undefined) clearTimeout(this.#readTimer);
    this.#readTimer = undefined;
    if (this.#readTimeoutMs <= 0 || this.#closed) return;
    const ms = this.#readTimeoutMs;
    this.#readTimer = setTimeout(() => this.destroy(new Error(`nothing read for ${ms} ms`)), ms);
  }

  /** Writes one packet with its length prefix. */
  send(packet: Uint8Array): void {
    if (this.#closed) return;
    this.lastSendAt = performance.now();
    this.#socket.write(encodeFrame(packet));
  }

  #data(chunk: Buffer): void {
    if (this.#closed) return;
    this.#armReadTimer();
    let packets: Buffer[];
    try {
      packets = this.#decoder.push(chunk);
    } catch (error) {
      this.destroy(error as Error);
      return;
    }
    for (const packet of packets) {
      if (this.#closed) return;
      try {
        this.#onPacket(packet);
      } catch (error) {
        this.destroy(error as Error);
        return;
      }
    }
  }

  /** Closes the socket at once; close listeners run once, with the reason. */
  destroy(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    if (this.#readTimer !== undefined) clearTimeout(this.#readTimer);
    this.#socket.destroy();
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener(error);
  }
}

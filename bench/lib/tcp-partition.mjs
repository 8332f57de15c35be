// A TCP forwarder per ZooKeeper member that can cut a client off (a partition: the client's packets and
// the server's go nowhere, sockets stay open, new connections are accepted and get nothing) while the
// ensemble stays up, so the server, not the client, decides the session expired.
import net from "node:net";

const epochNow = () => performance.timeOrigin + performance.now();

export class PartitionProxy {
  /** @param {{host: string, port: number}} upstream */
  constructor(upstream) {
    this.upstream = upstream;
    this.cut = false;
    this.pairs = new Set();
    // When the last chunk went through each way (epoch ms): a keepalive counts from its peer's last byte.
    this.lastToServerAt = 0;
    this.lastToClientAt = 0;
    this.server = net.createServer((client) => this.#accept(client));
  }

  async listen() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return { host: "127.0.0.1", port: this.server.address().port };
  }

  #accept(client) {
    client.on("error", () => {});
    if (this.cut) {
      // Accepted, and nothing will ever come back: what a partitioned client sees.
      this.pairs.add({ client, server: undefined });
      client.resume();
      return;
    }
    const server = net.connect(this.upstream);
    server.on("error", () => client.destroy());
    client.on("close", () => server.destroy());
    server.on("close", () => client.destroy());
    const pair = { client, server };
    this.pairs.add(pair);
    client.on("data", (chunk) => {
      if (this.cut) return;
      this.lastToServerAt = epochNow();
      server.write(chunk);
    });
    server.on("data", (chunk) => {
      if (this.cut) return;
      this.lastToClientAt = epochNow();
      client.write(chunk);
    });
  }

  /** Drops every byte both ways from now on. */
  partition() {
    this.cut = true;
  }

  /** Forwards again; connections made or silenced during the partition are closed (both ends). */
  heal() {
    this.cut = false;
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.server?.destroy();
    }
    this.pairs.clear();
  }

  close() {
    this.heal();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

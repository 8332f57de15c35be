// A real ZooKeeper ensemble on 127.0.0.1 from Debian's `zookeeper` package (3.8, /usr/share/java): N
// QuorumPeerMain JVMs with their own temp data dirs, `myid`s and free ports, for the registry tests
// (test/fixtures/zookeeper-ensemble.ts wraps this file) and bench/zookeeper-clients.mjs. Plain JS so
// both the tests and the benches (run by plain node) use the same code.
//
// tickTime is 200 ms so a test may ask for 2-6 s sessions: the server grants between 2 and 20 ticks by
// default; minSessionTimeout/maxSessionTimeout below widen that to 0.4-20 s.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const zookeeperJar = "/usr/share/java/zookeeper.jar";
// The jar's manifest carries its Class-Path (netty, jute, jackson, slf4j-api…); an slf4j binding is the
// only thing it leaves out: slf4j-simple writes the log to stderr, which goes to the member's log file.
const slf4jBinding = "/usr/share/java/slf4j-simple.jar";
export const tickTimeMs = 200;

/** Why the ensemble cannot run here, or undefined when java and Debian's zookeeper are installed. */
export function zookeeperMissing() {
  if (!existsSync(zookeeperJar))
    return "zookeeper not installed: apt-get install zookeeper (as .ci/run does)";
  if (!existsSync("/usr/bin/java") && !process.env["JAVA_HOME"])
    return "java not installed: apt-get install zookeeper";
  return undefined;
}

/** A free TCP port on 127.0.0.1 (bound then released: another process could take it, tests accept that). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Sends a four-letter word and returns the whole answer, or rejects after `timeoutMs`. */
export function fourLetterWord(port, word, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let text = "";
    const timer = setTimeout(
      () => socket.destroy(new Error(`${word} on ${port}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(word));
    socket.on("data", (chunk) => {
      // A bounded read: srvr/stat/mntr answers are a few hundred bytes.
      if (text.length < 65536) text += chunk;
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An ensemble of `size` members (3 by default; 1 runs a standalone server). Nothing runs before `start()`.
 */
export class ZooKeeperEnsemble {
  /** @param {{ size?: number, heapMb?: number }} [options] */
  constructor(options = {}) {
    this.size = options.size ?? 3;
    this.heapMb = options.heapMb ?? 96;
    /** @type {Array<{ clientPort: number, quorumPort: number, electionPort: number, dir: string, child: import("node:child_process").ChildProcess | undefined, exited: Promise<void> | undefined }>} */
    this.members = [];
    this.root = undefined;
  }

  /** `{ host, port }` of every member, in member order. */
  get servers() {
    return this.members.map((m) => ({ host: "127.0.0.1", port: m.clientPort }));
  }

  /** `127.0.0.1:p1,127.0.0.1:p2,…` */
  get connectString() {
    return this.servers.map((s) => `${s.host}:${s.port}`).join(",");
  }

  /**
   * Allocates the ports and writes the configs without starting anything, so a client can be given the
   * addresses of an ensemble that is not up yet. start() calls it when it was not called.
   */
  async prepare() {
    if (this.root) return;
    this.root = mkdtempSync(join(tmpdir(), "zk-ensemble-"));
    for (let i = 0; i < this.size; i++) {
      this.members.push({
        clientPort: await freePort(),
        quorumPort: await freePort(),
        electionPort: await freePort(),
        dir: join(this.root, `member-${i + 1}`),
        child: undefined,
        exited: undefined,
      });
    }
    this.members.forEach((m, i) => {
      mkdirSync(join(m.dir, "data"), { recursive: true });
      writeFileSync(join(m.dir, "data", "myid"), `${i + 1}\n`);
      writeFileSync(join(m.dir, "zoo.cfg"), this.#config(m));
    });
  }

  /** prepare(), then starts every member (does not wait for a quorum: see ready()). */
  async start() {
    await this.prepare();
    this.startAll();
  }

  #config(member) {
    const lines = [
      `tickTime=${tickTimeMs}`,
      "initLimit=25",
      "syncLimit=10",
      `dataDir=${join(member.dir, "data")}`,
      `clientPort=${member.clientPort}`,
      "clientPortAddress=127.0.0.1",
      `minSessionTimeout=${2 * tickTimeMs}`,
      "maxSessionTimeout=20000",
      "admin.enableServer=false",
      // cons lists each connection with its session id: memberOfSession() reads it.
      "4lw.commands.whitelist=srvr,stat,ruok,mntr,cons",
      // No periodic snapshot purge or preallocated 64 MiB logs in a temp dir.
      "preAllocSize=1024",
      "autopurge.purgeInterval=0",
      // Keep the default per-connection limit, but do not let a test's leak pass unnoticed forever.
      "maxClientCnxns=200",
    ];
    if (this.size > 1) {
      this.members.forEach((m, i) => {
        lines.push(`server.${i + 1}=127.0.0.1:${m.quorumPort}:${m.electionPort}`);
      });
      lines.push("standaloneEnabled=false");
    }
    return lines.join("\n") + "\n";
  }

  /** Starts member `i` (again): a new JVM on the same ports and data dir. */
  startMember(i) {
    const m = this.members[i];
    if (m.child) return;
    const log = openSync(join(m.dir, "server.log"), "a");
    const child = spawn(
      process.env["JAVA_HOME"] ? join(process.env["JAVA_HOME"], "bin", "java") : "java",
      [
        `-Xmx${this.heapMb}m`,
        "-XX:+UseSerialGC",
        "-Xshare:auto",
        "-XX:TieredStopAtLevel=1",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        "-Dzookeeper.jmx.log4j.disable=true",
        "-cp",
        `${zookeeperJar}:${slf4jBinding}`,
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        join(m.dir, "zoo.cfg"),
      ],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log);
    m.child = child;
    m.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    child.once("exit", () => {
      if (m.child === child) m.child = undefined;
    });
  }

  /** True while member `i`'s JVM runs. */
  running(i) {
    return this.members[i].child !== undefined;
  }

  async #signal(i, signal) {
    const m = this.members[i];
    if (!m.child) return;
    const exited = m.exited;
    m.child.kill(signal);
    await exited;
  }

  /** SIGTERM to member `i`, resolved once it has exited. */
  stop(i) {
    return this.#signal(i, "SIGTERM");
  }

  /** SIGKILL to member `i`, resolved once it has exited. */
  kill(i) {
    return this.#signal(i, "SIGKILL");
  }

  async stopAll() {
    await Promise.all(this.members.map((_, i) => this.stop(i)));
  }

  startAll() {
    for (let i = 0; i < this.size; i++) this.startMember(i);
  }

  /** Member `i`'s mode from `srvr` ("leader", "follower", "standalone") or undefined when it does not serve. */
  async mode(i) {
    try {
      const text = await fourLetterWord(this.members[i].clientPort, "srvr", 1000);
      return /^Mode: (\w+)/m.exec(text)?.[1];
    } catch {
      return undefined;
    }
  }

  /** Index of the leader (or of the standalone server), or -1 when none answers as one. */
  async leaderIndex() {
    const modes = await Promise.all(this.members.map((_, i) => this.mode(i)));
    return modes.findIndex((mode) => mode === "leader" || mode === "standalone");
  }

  /**
   * Resolves once every running member answers `srvr` with a mode and one is the leader; rejects after
   * `timeoutMs` with the members' modes.
   */
  async ready(timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    let modes = [];
    for (;;) {
      const running = this.members.map((_, i) => i).filter((i) => this.running(i));
      modes = await Promise.all(running.map((i) => this.mode(i)));
      if (
        running.length > 0 &&
        modes.every((mode) => mode !== undefined) &&
        modes.some((mode) => mode === "leader" || mode === "standalone")
      )
        return;
      if (Date.now() > deadline)
        throw new Error(`ensemble not ready in ${timeoutMs} ms: modes ${JSON.stringify(modes)}`);
      await sleep(100);
    }
  }

  /** The member index serving `server` (`{ port }`, e.g. a client's currentServer), or -1. */
  memberOf(server) {
    if (!server) return -1;
    return this.members.findIndex((m) => m.clientPort === server.port);
  }

  /**
   * The member index holding a connection of session `sessionId` (bigint), from each running member's
   * `cons`, or -1: for clients that do not say which member they are on.
   */
  async memberOfSession(sessionId) {
    const sid = `sid=0x${sessionId.toString(16)},`;
    for (let i = 0; i < this.members.length; i++) {
      if (!this.running(i)) continue;
      const text = await fourLetterWord(this.members[i].clientPort, "cons", 1000).catch(() => "");
      if (text.includes(sid)) return i;
    }
    return -1;
  }

  /** Kills every member and removes the data dirs. */
  async close() {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
    if (this.root) rmSync(this.root, { recursive: true, force: true });
    this.root = undefined;
  }
}

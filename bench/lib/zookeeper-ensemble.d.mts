// Types of zookeeper-ensemble.mjs, for the TypeScript tests that import it.
import type { ChildProcess } from "node:child_process";

export declare const zookeeperJar: string;
export declare const tickTimeMs: number;
export declare function zookeeperMissing(): string | undefined;
export declare function freePort(): Promise<number>;
export declare function fourLetterWord(port: number, word: string, timeoutMs?: number): Promise<string>;

export interface EnsembleMember {
  clientPort: number;
  quorumPort: number;
  electionPort: number;
  dir: string;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
}

export declare class ZooKeeperEnsemble {
  constructor(options?: { size?: number; heapMb?: number });
  readonly size: number;
  readonly members: EnsembleMember[];
  readonly root: string | undefined;
  get servers(): Array<{ host: string; port: number }>;
  get connectString(): string;
  prepare(): Promise<void>;
  start(): Promise<void>;
  startMember(i: number): void;
  running(i: number): boolean;
  stop(i: number): Promise<void>;
  kill(i: number): Promise<void>;
  stopAll(): Promise<void>;
  startAll(): void;
  mode(i: number): Promise<string | undefined>;
  leaderIndex(): Promise<number>;
  ready(timeoutMs?: number): Promise<void>;
  memberOf(server: { port: number } | undefined): number;
  memberOfSession(sessionId: bigint): Promise<number>;
  close(): Promise<void>;
}

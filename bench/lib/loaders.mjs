// The load generators: h2load (nghttp2-client) for HTTP/2 and wrk for HTTP/1.1, each pinned to the loader CPU.
// Both measure the time to the end of each response; neither checks gRPC status (probe.mjs does, once).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pinned } from "./children.mjs";
import { checkPath } from "./health-bytes.mjs";
import { percentile } from "./stats.mjs";

function run(command, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(" ")} failed (${code ?? signal}):\n${stderr}${stdout}`));
    });
  });
}

/** Seconds as h2load's duration syntax ("5", "300ms"). */
function h2loadDuration(seconds) {
  return Number.isInteger(seconds) ? String(seconds) : `${Math.round(seconds * 1000)}ms`;
}

/**
 * Loads an HTTP/2 server with h2load.
 * @returns {Promise<{requests: number, rps: number, failed: number, non2xx: number, p50Ms: number, p99Ms: number, seconds: number}>}
 */
export async function runH2load(testCase, port, load) {
  const dir = mkdtempSync(join(tmpdir(), "bench-h2load-"));
  try {
    const bodyFile = join(dir, "body");
    const logFile = join(dir, "log");
    writeFileSync(bodyFile, testCase.body);
    const args = ["-c", String(load.connections), "-m", String(load.streams), "-t", "1"];
    if (load.requests > 0) {
      // A fixed request count (the smoke run): always completes some requests, however busy the machine.
      args.push("-n", String(Math.max(load.requests, load.connections)));
    } else {
      args.push("-D", h2loadDuration(load.duration));
      if (load.warmup > 0) args.push(`--warm-up-time=${h2loadDuration(load.warmup)}`);
    }
    args.push("-d", bodyFile, `--log-file=${logFile}`);
    for (const [name, value] of Object.entries(testCase.headers)) args.push("-H", `${name}: ${value}`);
    args.push(`http://127.0.0.1:${port}${checkPath}`);
    const [command, fullArgs] = pinned(load.loaderCpu, "h2load", args);
    const output = await run(command, fullArgs, (load.duration + load.warmup + 30) * 1000);
    return { ...parseH2load(output), ...latencyFromLog(readFileSync(logFile, "utf8")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads h2load's summary lines. */
export function parseH2load(output) {
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(output);
  const requests =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      output,
    );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
  if (!finished || !requests || !codes) throw new Error(`unreadable h2load output:\n${output}`);
  const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
  return {
    requests: Number(requests[3]),
    rps: Number(finished[3]),
    failed: Number(requests[5]) + Number(requests[6]) + Number(requests[7]),
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    seconds,
  };
}

/** p50/p99 of the per-request log (third column: microseconds to the end of the response). */
export function latencyFromLog(text) {
  const values = [];
  for (const line of text.split("\n")) {
    const tab = line.lastIndexOf("\t");
    if (tab > 0) values.push(Number(line.slice(tab + 1)));
  }
  const sorted = Float64Array.from(values).sort();
  return {
    p50Ms: percentile(sorted, 50) / 1000,
    p99Ms: percentile(sorted, 99) / 1000,
    logged: sorted.length,
  };
}

/** wrk's Lua script: a POST with the case's headers and body; done() prints one JSON line. */
export function wrkScript(testCase) {
  const lines = [`wrk.method = "POST"`, `wrk.body = ${luaString(testCase.body)}`];
  for (const [name, value] of Object.entries(testCase.headers))
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  lines.push(
    "done = function(summary, latency, requests)",
    '  io.write(string.format(\'WRK_JSON {"requests":%d,"micros":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d}\\n\',',
    "    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,",
    "    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))",
    "end",
  );
  return lines.join("\n") + "\n";
}

function luaString(value) {
  return `"${Buffer.from(value)
    .toString("latin1")
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/[^\x20-\x7e]/g, (c) => `\\${c.charCodeAt(0)}`)}"`;
}

/**
 * Loads an HTTP/1.1 server with wrk (no pipelining: one request in flight per connection).
 * wrk has no warm-up option, so a separate unrecorded run does the warm-up.
 */
export async function runWrk(testCase, port, load) {
  const dir = mkdtempSync(join(tmpdir(), "bench-wrk-"));
  try {
    const script = join(dir, "post.lua");
    writeFileSync(script, wrkScript(testCase));
    const url = `http://127.0.0.1:${port}${checkPath}`;
    const wrk = async (seconds) => {
      const args = [
        "-t",
        "1",
        "-c",
        String(load.h1Connections),
        "-d",
        `${Math.max(1, Math.round(seconds))}s`,
      ];
      args.push("--timeout", "5s", "-s", script, url);
      const [command, fullArgs] = pinned(load.loaderCpu, "wrk", args);
      return run(command, fullArgs, (seconds + 30) * 1000);
    };
    if (load.warmup > 0) await wrk(load.warmup);
    return parseWrk(await wrk(load.duration));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function parseWrk(output) {
  const line = /WRK_JSON (\{.*\})/.exec(output);
  if (!line) throw new Error(`unreadable wrk output:\n${output}`);
  const r = JSON.parse(line[1]);
  const seconds = r.micros / 1e6;
  return {
    requests: r.requests,
    rps: r.requests / seconds,
    failed: r.connect + r.read + r.write + r.timeout,
    non2xx: r.status,
    seconds,
    p50Ms: r.p50 / 1000,
    p99Ms: r.p99 / 1000,
  };
}

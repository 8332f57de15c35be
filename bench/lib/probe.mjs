// One real request per server and case, checked byte by byte, before any load: h2load and wrk only count
// HTTP statuses, so a server answering 200 with a gRPC error would otherwise look fast.
import http from "node:http";
import http2 from "node:http2";
import { checkPath, decodeStatus, statusNames } from "./health-bytes.mjs";

const timeoutMs = 5000;

/** Sends `testCase`'s request to 127.0.0.1:port; resolves with {status, headers, trailers, body}. */
export function sendOnce(testCase, port) {
  return testCase.http === "2" ? sendH2(testCase, port) : sendH1(testCase, port);
}

function sendH2(testCase, port) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const fail = (error) => {
      session.destroy();
      reject(error);
    };
    session.on("error", fail);
    const stream = session.request({
      ":method": "POST",
      ":path": checkPath,
      ...testCase.headers,
      "content-length": String(testCase.body.length),
    });
    stream.setTimeout(timeoutMs, () => fail(new Error(`no answer within ${timeoutMs} ms`)));
    let headers = {};
    let trailers = {};
    const chunks = [];
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("error", fail);
    stream.on("end", () => {
      session.close();
      resolve({ status: Number(headers[":status"]), headers, trailers, body: Buffer.concat(chunks) });
    });
    stream.end(testCase.body);
  });
}

function sendH1(testCase, port) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: checkPath,
        headers: { ...testCase.headers, "content-length": String(testCase.body.length) },
        agent: false,
        timeout: timeoutMs,
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode,
            headers: response.headers,
            trailers: response.trailers,
            body: Buffer.concat(chunks),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end(testCase.body);
  });
}

/** Problems with an answer to `testCase` (empty when it is a correct SERVING reply). */
export function checkAnswer(testCase, answer) {
  const problems = [];
  if (answer.status !== 200) problems.push(`HTTP status ${answer.status}, want 200`);
  const contentType = String(answer.headers["content-type"] ?? "");
  if (!testCase.expect.contentType.test(contentType))
    problems.push(`content-type "${contentType}", want ${testCase.expect.contentType}`);
  if (testCase.kind === "grpc") {
    const grpcStatus = answer.trailers["grpc-status"] ?? answer.headers["grpc-status"];
    if (grpcStatus !== "0")
      problems.push(`grpc-status ${grpcStatus}, want 0 (${answer.trailers["grpc-message"] ?? ""})`);
    if (answer.trailers["grpc-status"] === undefined) problems.push("grpc-status not in the trailers");
  }
  if (testCase.kind === "json") {
    let parsed;
    try {
      parsed = JSON.parse(answer.body.toString("utf8"));
    } catch {
      parsed = undefined;
    }
    if (parsed?.status !== "SERVING")
      problems.push(`body ${answer.body.toString("utf8")}, want {"status":"SERVING"}`);
  } else if (!answer.body.equals(testCase.expect.body)) {
    const payload = testCase.kind === "grpc" ? answer.body.subarray(5) : answer.body;
    const status = statusNames[decodeStatus(payload)] ?? "unreadable";
    problems.push(
      `body ${answer.body.toString("hex")} (${status}), want ${testCase.expect.body.toString("hex")}`,
    );
  }
  return problems;
}

/** Sends the probe and checks it: resolves with a list of problems, empty when the server answered right. */
export async function probe(testCase, port) {
  try {
    return checkAnswer(testCase, await sendOnce(testCase, port));
  } catch (error) {
    return [`request failed: ${error.message}`];
  }
}

// Ceiling for HTTP/1.1: a node:http handler answering the fixed bytes of a triple JSON Check after reading the
// request body. Nothing is decoded or validated.
import http from "node:http";
import { checkResponseJson } from "../lib/health-bytes.mjs";
import { runServerChild } from "../lib/server-child.mjs";

const headers = { "content-type": "application/json", "content-length": String(checkResponseJson.length) };
function ignore() {}

const server = http.createServer({ keepAliveTimeout: 60000 }, (request, response) => {
  request.on("data", ignore);
  request.on("end", () => {
    response.writeHead(200, headers);
    response.end(checkResponseJson);
  });
});
server.listen(0, "127.0.0.1", () => {
  runServerChild({
    name: "ceiling-h1",
    ports: { h1: server.address().port },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  });
});

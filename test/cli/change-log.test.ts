// serve's status-change lines: JSON for log pipelines, text for people; a new and a cleared service too.
import t from "tap";
import { jsonChangeLine, textChangeLine } from "../../src/cli/change-log.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";

const base = { service: "db", reason: "db: refused", source: "db", time: Date.UTC(2026, 11, 2, 9, 30) };

t.test("JSON: one object per line, statuses by name, null at the ends", async (t) => {
  t.equal(
    jsonChangeLine({ ...base, previous: ServingStatus.Serving, status: ServingStatus.NotServing }),
    '{"time":"2026-12-02T09:30:00.000Z","service":"db","status":"NOT_SERVING","previous":"SERVING","reason":"db: refused","source":"db"}\n',
  );
  t.match(JSON.parse(jsonChangeLine({ ...base, previous: undefined, status: ServingStatus.Serving })), {
    status: "SERVING",
    previous: null,
  });
  t.match(JSON.parse(jsonChangeLine({ ...base, previous: ServingStatus.Serving, status: undefined })), {
    status: null,
    previous: "SERVING",
  });
});

t.test("text: quoted service, from -> to, reason", async (t) => {
  t.equal(
    textChangeLine("p: ", { ...base, previous: ServingStatus.Serving, status: ServingStatus.NotServing }),
    'p: "db" SERVING -> NOT_SERVING: db: refused\n',
  );
  t.equal(
    textChangeLine("", { ...base, service: "", previous: undefined, status: ServingStatus.Serving }),
    '"" new -> SERVING: db: refused\n',
  );
  t.equal(
    textChangeLine("", { ...base, previous: ServingStatus.NotServing, status: undefined }),
    '"db" NOT_SERVING -> cleared: db: refused\n',
  );
});

t.test("text: a new reason under the same status says `still`", async (t) => {
  t.equal(
    textChangeLine("", { ...base, previous: ServingStatus.NotServing, status: ServingStatus.NotServing }),
    '"db" still NOT_SERVING: db: refused\n',
  );
});

/**
 * ZooKeeper's error codes (`KeeperException.Code` in apache/zookeeper; the `err` field of every reply
 * header) and the one error the client rejects with.
 */
export const ErrorCode = {
  OK: 0,
  SYSTEMERROR: -1,
  RUNTIMEINCONSISTENCY: -2,
  DATAINCONSISTENCY: -3,
  CONNECTIONLOSS: -4,
  MARSHALLINGERROR: -5,
  UNIMPLEMENTED: -6,
  OPERATIONTIMEOUT: -7,
  BADARGUMENTS: -8,
  UNKNOWNSESSION: -12,
  NEWCONFIGNOQUORUM: -13,
  RECONFIGINPROGRESS: -14,
  APIERROR: -100,
  NONODE: -101,
  NOAUTH: -102,
  BADVERSION: -103,
  NOCHILDRENFOREPHEMERALS: -108,
  NODEEXISTS: -110,
  NOTEMPTY: -111,
  SESSIONEXPIRED: -112,
  INVALIDCALLBACK: -113,
  INVALIDACL: -114,
  AUTHFAILED: -115,
  SESSIONMOVED: -118,
  NOTREADONLY: -119,
  EPHEMERALONLOCALSESSION: -120,
  NOWATCHER: -121,
  REQUESTTIMEOUT: -122,
  RECONFIGDISABLED: -123,
  SESSIONCLOSEDREQUIRESASLAUTH: -124,
  QUOTAEXCEEDED: -125,
  THROTTLEDOP: -127,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;

const names = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

/** The name of a ZooKeeper error code (`NONODE` for -101), or `UNKNOWN(<code>)` for one not listed. */
export function errorCodeName(code: number): string {
  return names.get(code) ?? `UNKNOWN(${code})`;
}

/**
 * A failed ZooKeeper operation: the server's error code (or CONNECTIONLOSS, REQUESTTIMEOUT, SESSIONEXPIRED,
 * MARSHALLINGERROR raised by the client itself), its name and the path the request was about.
 */
export class ZooKeeperError extends Error {
  /** The numeric code, e.g. -101; compare with {@link ErrorCode}. */
  readonly code: number;
  /** The code's name, e.g. `"NONODE"`. */
  readonly codeName: string;
  /** The znode path of the failed request, when it had one. */
  readonly path: string | undefined;

  constructor(code: number, message?: string, path?: string, options?: { cause?: unknown }) {
    const codeName = errorCodeName(code);
    const where = path === undefined ? "" : ` ${path}`;
    super(`${codeName}${where}${message ? `: ${message}` : ""}`, options);
    this.name = "ZooKeeperError";
    this.code = code;
    this.codeName = codeName;
    this.path = path;
  }
}

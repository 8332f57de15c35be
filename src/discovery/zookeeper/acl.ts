import { createHash } from "node:crypto";
import { Perm } from "./op-codes.ts";

/** One ACL entry: permission bits for an id of a scheme (`world:anyone`, `digest:user:hash`). */
export interface Acl {
  perms: number;
  scheme: string;
  id: string;
}

/**
 * The id the digest scheme gives `user:password`: `user:base64(sha1("user:password"))`
 * (`DigestAuthenticationProvider.generateDigest` in apache/zookeeper; what `addauth digest` maps to).
 */
export function digestId(user: string, password: string): string {
  return `${user}:${createHash("sha1").update(`${user}:${password}`).digest("base64")}`;
}

/** `world:anyone` with every right (`ZooDefs.Ids.OPEN_ACL_UNSAFE`). */
export const openAcl: ReadonlyArray<Acl> = [{ perms: Perm.all, scheme: "world", id: "anyone" }];

/**
 * Every right for the digest user, read for everyone. Dubbo Java with credentials gives every node it
 * creates `CREATOR_ALL_ACL` (Curator5ZookeeperClient's ACLProvider): only its user may change, delete or
 * read it, so its consumers carry the same user. dubbo-go's client (dubbogo/gost gxzookeeper) sends no
 * credentials and creates everything `world:anyone` ALL. Read for everyone lets both kinds of consumer
 * find the providers; changes and deletes stay the creator's, as in Java.
 */
export function creatorAcl(user: string, password: string): Acl[] {
  return [
    { perms: Perm.all, scheme: "digest", id: digestId(user, password) },
    { perms: Perm.read, scheme: "world", id: "anyone" },
  ];
}

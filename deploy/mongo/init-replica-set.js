// Idempotent set-up of the single-node replica set "rs0" used by compose.yaml.
//
// The mongo service runs this as its healthcheck (mongosh --file), so it must be cheap and safe to
// repeat: on a fresh volume it initiates the set, afterwards it only reads. It exits 0 only once
// this node is a writable primary, which is what the migrate/api/worker services wait for.
//
// The member is registered under the compose service name so that other containers can connect
// with `mongodb://mongo:27017/...?replicaSet=rs0`.
const REPLICA_SET = "rs0";
const MEMBER_HOST = "mongo:27017";
const NOT_YET_INITIALIZED = 94;
const ALREADY_INITIALIZED = 23;

// mongosh throws on a command that answers ok: 0; turn that back into a plain reply.
function command(spec) {
  try {
    return db.adminCommand(spec);
  } catch (error) {
    return { ok: 0, code: error.code, codeName: error.codeName, errmsg: error.message };
  }
}

const status = command({ replSetGetStatus: 1 });
if (status.ok !== 1 && status.code === NOT_YET_INITIALIZED) {
  const reply = command({
    replSetInitiate: { _id: REPLICA_SET, members: [{ _id: 0, host: MEMBER_HOST }] },
  });
  // Another healthcheck run may have initiated it in the meantime; that is fine too.
  if (reply.ok !== 1 && reply.code !== ALREADY_INITIALIZED) {
    print(`replSetInitiate failed: ${JSON.stringify(reply)}`);
    quit(1);
  }
}

if (db.hello().isWritablePrimary !== true) {
  print(`replica set ${REPLICA_SET}: this node is not primary yet`);
  quit(1);
}
quit(0);

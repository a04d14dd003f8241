// The chatcore.json.v1 subprotocol: every WebSocket text message is the serde
// JSON form of a ClientFrame (to the server) or a ServerFrame (from it), enums
// externally tagged ({"Variant": {...}} or "Variant"), error codes by their
// snake_case names, file chunks as base64 and SHA-256 digests as hex.
// This module builds the frames the client sends and flattens what arrives
// into plain {type, ...} objects the rest of the page works with.

export const SUBPROTOCOL = "chatcore.json.v1";
export const PROTOCOL_VERSION = 5;
export const FILE_CHUNK = 256 * 1024;

/** Peers: {User: "bob"} or {Room: "lobby"}; keys: "@bob" / "#lobby". */
export const userPeer = (name) => ({ User: name });
export const roomPeer = (name) => ({ Room: name });
export const peerKey = (peer) => ("User" in peer ? "@" + peer.User : "#" + peer.Room);
export const keyPeer = (key) => (key[0] === "@" ? userPeer(key.slice(1)) : roomPeer(key.slice(1)));
export const keyName = (key) => key.slice(1);
export const isRoomKey = (key) => key[0] === "#";

/** The tag and payload of an externally tagged enum value. */
export function untag(value) {
  if (typeof value === "string") return [value, null];
  const tag = Object.keys(value)[0];
  return [tag, value[tag]];
}

/** "InvalidCredentials" or "invalid_credentials" -> "invalid_credentials". */
export function errorCode(value) {
  const name = typeof value === "string" ? value : untag(value)[0];
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

// Bulk bytes (file chunks) <-> base64, their JSON form; an array of numbers
// is accepted too. SHA-256 digests are 64 hex digits.
export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromBase64(value) {
  if (Array.isArray(value)) return Uint8Array.from(value);
  const binary = atob(value);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A SHA-256 digest from JSON: 64 hex digits (an array of numbers, or base64, accepted too). */
export function digestFrom(value) {
  if (typeof value === "string" && /^[0-9a-fA-F]{64}$/.test(value)) {
    return Uint8Array.from(value.match(/../g), (pair) => parseInt(pair, 16));
  }
  return fromBase64(value);
}

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

// ---- Client frames ----------------------------------------------------------

export const hello = (client) => ({ Hello: { version: PROTOCOL_VERSION, client } });
export const request = (reqId, req) => ({ Request: { req_id: reqId, request: req } });
export const ackUpTo = (pos) => ({ AckUpTo: { pos } });
export const ackIds = (ids) => ({ Ack: { ids } });

/** Requests, by name: each returns the serde form of a `Request`. */
export const Req = {
  ping: () => "Ping",
  register: (username, password) => ({ Register: { username, password } }),
  loginDevice: (username, password, device) => ({
    LoginDevice: {
      username,
      password,
      device: device.id != null ? { Known: { id: device.id } } : { New: { name: device.name } },
    },
  }),
  logout: () => "Logout",
  friendRequest: (to, note) => ({ FriendRequest: { to, note } }),
  friendRespond: (from, accept) => ({ FriendRespond: { from, accept } }),
  removeFriend: (user) => ({ RemoveFriend: { user } }),
  send: (to, clientMsgId, text) => ({ Send: { to, client_msg_id: clientMsgId, body: { Text: text } } }),
  history: (peer, beforeSeq, limit) => ({ History: { peer, before_seq: beforeSeq ?? null, limit } }),
  createRoom: (name) => ({ CreateRoom: { name } }),
  joinRoom: (name) => ({ JoinRoom: { name } }),
  leaveRoom: (name) => ({ LeaveRoom: { name } }),
  offerFile: (to, name, size, sha256) => ({ OfferFile: { to, name, size, sha256: hex(sha256) } }),
  uploadChunk: (file, offset, bytes) => ({ UploadChunk: { file, offset, bytes: toBase64(bytes) } }),
  completeFile: (file) => ({ CompleteFile: { file } }),
  downloadChunk: (file, offset, len) => ({ DownloadChunk: { file, offset, len } }),
  page: (list, after, limit) => ({ Page: { list, after: after ?? null, limit } }),
  typing: (to) => ({ Typing: { to } }),
  markRead: (peer, seq) => ({ MarkRead: { peer, seq } }),
  setReadReceipts: (on) => ({ SetReadReceipts: { on } }),
  devices: () => "Devices",
  revokeDevice: (device) => ({ RevokeDevice: { device } }),
};

/** Lists for `Req.page`. */
export const List = {
  users: (prefix) => ({ Users: { prefix } }),
  friends: () => "Friends",
  rooms: () => "Rooms",
  members: (room) => ({ Members: { room } }),
  files: (peer) => ({ Files: { peer } }),
};

// ---- Server frames ----------------------------------------------------------

/**
 * A decoded ServerFrame as one of
 * {kind: "hello", version}, {kind: "response", reqId, ok, value | code},
 * {kind: "event", event}, {kind: "item", pos, event};
 * events are flattened by `flattenEvent`.
 */
export function decodeServerFrame(text) {
  const [tag, body] = untag(JSON.parse(text));
  switch (tag) {
    case "Hello":
      return { kind: "hello", version: body.version, server: body.server };
    case "Response": {
      const [outcome, value] = untag(body.result);
      if (outcome === "Ok") return { kind: "response", reqId: body.req_id, ok: true, value: flattenResponse(value) };
      return { kind: "response", reqId: body.req_id, ok: false, code: errorCode(value) };
    }
    case "Event":
      return { kind: "event", event: flattenEvent(body) };
    case "Item":
      return { kind: "item", pos: body.pos, event: flattenEvent(body.event) };
    default:
      throw new Error("unknown server frame " + tag);
  }
}

/** A Response as {type, ...}: "Done" -> {type: "Done"}, {Sent: {...}} -> {type: "Sent", ...}. */
export function flattenResponse(value) {
  const [type, body] = untag(value);
  if (body === null) return { type };
  if (type === "Page") {
    const [itemsType, items] = untag(body.items);
    return { type, itemsType, items: items.map((i) => (itemsType === "History" ? message(i) : i)), next: body.next };
  }
  if (type === "History") return { type, items: body.map(message) };
  if (type === "Chunk") return { type, bytes: fromBase64(body) };
  if (Array.isArray(body) || typeof body !== "object") return { type, items: body };
  return { type, ...body };
}

/** A message with its conversation's key from the point of view of `me` filled in later. */
function message(m) {
  const [, text] = untag(m.body);
  return { id: m.id, seq: m.seq, from: m.from, to: m.to, text: typeof text === "string" ? text : "", ts: m.ts };
}

/** An Event as {type, ...}. */
export function flattenEvent(value) {
  const [type, body] = untag(value);
  switch (type) {
    case "Message":
      return { type, message: message(body) };
    case "Unread":
      return { type, conversations: body };
    case "Closing":
      return { type, code: errorCode(body.code) };
    default:
      return body === null ? { type } : { type, ...body };
  }
}

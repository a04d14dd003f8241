// What the page knows, and the one place it changes. Views subscribe and
// redraw; the session calls the mutators below as frames arrive.
//
// Conversations are keyed "@user" or "#room" (protocol.peerKey). Messages are
// kept by seq, so a message that arrives twice (a redelivery after a
// reconnect, history overlapping live messages) is shown once.

import { isRoomKey } from "./protocol.js";

export class Conversation {
  constructor(key) {
    this.key = key;
    this.messages = new Map(); // seq -> {id, seq, from, text, ts}
    this.pending = []; // sends not yet answered: {clientMsgId, text, failed}
    this.files = new Map(); // file id -> {id, from, name, size, sha256?, ts, progress?}
    this.notices = []; // {ts, text} (room joins and leaves)
    this.loaded = false; // the newest history page was fetched
    this.complete = false; // history reaches seq 1
    this.loadingOlder = false;
    this.delivered = 0; // my messages up to this seq reached a device of theirs
    this.readBy = 0; // ... and were read by them
    this.myRead = 0; // I read up to here
    this.newFrom = null; // my read mark when the conversation was opened (the "new messages" line)
    // Unread: `base` messages from others at or below `baseSeq` (the server's
    // count), plus every message from others above both marks.
    this.unreadBase = 0;
    this.unreadBaseSeq = 0;
    this.typing = new Map(); // user -> expiry (ms since epoch)
  }

  get isRoom() {
    return isRoomKey(this.key);
  }

  get newestSeq() {
    let max = 0;
    for (const seq of this.messages.keys()) max = Math.max(max, seq);
    return max;
  }

  get oldestSeq() {
    let min = Infinity;
    for (const seq of this.messages.keys()) min = Math.min(min, seq);
    return min === Infinity ? null : min;
  }

  unread(me) {
    let count = this.unreadBase;
    const floor = Math.max(this.unreadBaseSeq, this.myRead);
    for (const m of this.messages.values()) if (m.seq > floor && m.from !== me) count++;
    return count;
  }
}

export class State {
  constructor() {
    this.me = null;
    this.deviceId = null;
    this.status = "stopped"; // connecting | online | waiting | stopped
    this.node = null; // "host:port" of the server the connection is (or was last) to
    this.syncing = false; // logged in, the backlog not yet through (until CaughtUp)
    this.friends = new Map(); // user -> {user, state, online}
    this.requests = new Map(); // user asking me -> note
    this.rooms = new Map(); // name -> {name, owner, members, joined}
    this.convs = new Map();
    this.active = null; // key of the open conversation
    this.receipts = true;
    this.listeners = new Set();
    this.scheduled = false;
  }

  /** Calls `fn(state)` after every batch of changes. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Marks the state changed; listeners run once per batch (a microtask later). */
  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn(this);
    });
  }

  conv(key) {
    let c = this.convs.get(key);
    if (!c) {
      c = new Conversation(key);
      this.convs.set(key, c);
    }
    return c;
  }

  /** The conversation a message belongs to, seen from `me`. */
  keyOf(message) {
    if ("Room" in message.to) return "#" + message.to.Room;
    return "@" + (message.from === this.me ? message.to.User : message.from);
  }

  /** Adds a message; false if it was already known (by seq). */
  addMessage(message) {
    const c = this.conv(this.keyOf(message));
    if (c.messages.has(message.seq)) return false;
    c.messages.set(message.seq, message);
    if (message.seq === 1) c.complete = true;
    c.typing.delete(message.from);
    this.changed();
    return true;
  }

  friendList() {
    return [...this.friends.values()].filter((f) => f.state !== "RequestReceived");
  }

  joinedRooms() {
    return [...this.rooms.values()].filter((r) => r.joined);
  }

  reset() {
    this.me = null;
    this.friends.clear();
    this.requests.clear();
    this.rooms.clear();
    this.convs.clear();
    this.active = null;
    this.changed();
  }
}

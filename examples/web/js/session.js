// The session: logs in on every connection (the same device each time, so the
// server resumes from the device's position in the stream), turns items and
// events into state, and carries out what the user does. Sends go through an
// outbox with a client_msg_id each: one not answered before a disconnect is
// sent again after the next login, and the server stores it once.

import * as P from "./protocol.js";
import { Connection } from "./connection.js";
import { ChatError } from "./errors.js";
import { applyEvent } from "./events.js";
import { deviceKey, deviceName } from "./device.js";
import { endpoints, hostOf } from "./nodes.js";

const HISTORY_PAGE = 40;
const TYPING_EVERY_MS = 2000;

// Milliseconds since 1970 above 11 random bits (below 2^53 until 2109), and
// above the last one: ids that grow with time, which the server keeps packed
// together, never one twice from this page however many sends share a
// millisecond.
let lastId = 0;
const freshId = () => {
  lastId = Math.max(Date.now() * 2048 + Math.floor(Math.random() * 2048), lastId + 1);
  return lastId;
};

export class Session {
  constructor(state, ui) {
    this.state = state;
    this.ui = ui; // {notify(text, kind), loggedOut(message)}
    this.conn = null;
    this.credentials = null; // kept in memory only, to log in again after a reconnect
    this.outbox = []; // {key, clientMsgId, text}
    this.lastTyping = new Map();
  }

  /** Connects and logs in (registering first if `register`); resolves once logged in. */
  async start(username, password, register) {
    this.credentials = { username, password, register };
    const urls = await endpoints();
    return new Promise((resolve, reject) => {
      this.firstLogin = { resolve, reject };
      this.conn = new Connection(urls, {
        onReady: (conn) => this.onReady(conn),
        onFrame: (frame) => this.onFrame(frame),
        onStatus: (status) => {
          // No server could be reached for the first login: say so on the
          // login form rather than retry behind it.
          if (status === "waiting" && this.firstLogin && this.conn.attempt >= urls.length) {
            const { reject } = this.firstLogin;
            this.firstLogin = null;
            this.end();
            reject(new ChatError("unreachable"));
            return;
          }
          this.state.status = status;
          this.state.node = this.conn?.url ? hostOf(this.conn.url) : null;
          this.state.changed();
        },
      });
      this.conn.start();
    });
  }

  /** Logs in on a fresh connection; a failure of the very first login ends the session. */
  async onReady(conn) {
    const { username, password } = this.credentials;
    try {
      if (this.credentials.register) {
        await conn.send(P.Req.register(username, password));
        this.credentials.register = false;
      }
      await this.loginDevice(conn, username, password);
    } catch (e) {
      const fatal = this.firstLogin || ["invalid_credentials", "device_revoked"].includes(e.code);
      if (e.code !== "disconnected" && fatal) {
        this.end();
        if (this.firstLogin) this.firstLogin.reject(e);
        else this.ui.loggedOut(e.message);
        this.firstLogin = null;
      }
      throw e;
    }
    if (this.firstLogin) {
      this.firstLogin.resolve();
      this.firstLogin = null;
    }
    this.afterLogin().catch((e) => this.report(e));
  }

  async loginDevice(conn, username, password) {
    const stored = localStorage.getItem(deviceKey(username));
    const device = stored ? { id: Number(stored) } : { name: deviceName() };
    let answer;
    try {
      answer = await conn.send(P.Req.loginDevice(username, password, device));
    } catch (e) {
      if (e.code !== "unknown_device") throw e;
      // Revoked (or from another server): this browser becomes a new device.
      localStorage.removeItem(deviceKey(username));
      answer = await conn.send(P.Req.loginDevice(username, password, { name: deviceName() }));
    }
    // What waited for this device follows, then CaughtUp.
    this.state.syncing = true;
    localStorage.setItem(deviceKey(answer.user), String(answer.device));
    this.state.me = answer.user;
    this.state.deviceId = answer.device;
    this.state.changed();
  }

  /** What a (re)login catches up on beside the stream: lists, room gaps, the outbox. */
  async afterLogin() {
    await Promise.all([this.refreshFriends(), this.refreshRooms()]);
    for (const item of [...this.outbox]) this.transmit(item);
    for (const room of this.state.joinedRooms()) {
      const c = this.state.convs.get("#" + room.name);
      if (c && c.loaded) await this.catchUpRoom(c);
    }
    const active = this.state.active && this.state.convs.get(this.state.active);
    if (active && !active.loaded) await this.loadNewest(active);
  }

  /** Stops for good and forgets everything but the device ids. */
  end() {
    this.conn?.stop();
    this.conn = null;
    this.credentials = null;
    this.outbox = [];
    this.state.reset();
  }

  async logout() {
    try {
      await this.conn?.send(P.Req.logout());
    } catch {
      // Gone already: nothing to log out of.
    }
    this.end();
    this.ui.loggedOut(null);
  }

  report(e) {
    if (e instanceof ChatError) this.ui.notify(e.message, "error");
    else {
      console.error(e);
      this.ui.notify(String(e.message ?? e), "error");
    }
  }

  request(req) {
    if (!this.conn) return Promise.reject(new ChatError("not_authenticated"));
    return this.conn.send(req);
  }

  /** Every page of a list. */
  async whole(list) {
    const all = [];
    let after = null;
    do {
      const page = await this.request(P.Req.page(list, after, 1000));
      all.push(...page.items);
      after = page.next;
    } while (after);
    return all;
  }

  // ---- Frames -----------------------------------------------------------------

  onFrame(frame) {
    try {
      applyEvent(this, frame.event, frame.kind === "item");
    } catch (e) {
      console.error("while handling", frame, e);
    }
    // Acked once handled: what the page has taken in is not sent again.
    if (frame.kind === "item") this.conn?.ackItem(frame.pos);
    else if (frame.event.type === "Message") this.conn?.ackRoomMessage(frame.event.message.id);
  }

  // ---- Lists ------------------------------------------------------------------

  async refreshFriends() {
    const rows = await this.whole(P.List.friends());
    const s = this.state;
    s.friends.clear();
    s.requests.clear();
    for (const row of rows) {
      s.friends.set(row.user, { user: row.user, state: row.state, online: row.online });
      if (row.state === "RequestReceived") s.requests.set(row.user, "");
    }
    s.changed();
  }

  async refreshRooms() {
    const rows = await this.whole(P.List.rooms());
    this.state.rooms.clear();
    for (const r of rows) this.state.rooms.set(r.name, r);
    this.state.changed();
    return rows;
  }

  async search(prefix) {
    const page = await this.request(P.Req.page(P.List.users(prefix), null, 20));
    return page.items.filter((u) => u !== this.state.me);
  }

  members(room) {
    return this.whole(P.List.members(room));
  }

  // ---- Friends and rooms --------------------------------------------------------

  async addFriend(user, note) {
    const answer = await this.request(P.Req.friendRequest(user, note));
    await this.refreshFriends();
    return answer.friends;
  }

  async respond(user, accept) {
    await this.request(P.Req.friendRespond(user, accept));
    this.state.requests.delete(user);
    if (!accept) this.state.friends.delete(user);
    await this.refreshFriends();
  }

  async removeFriend(user) {
    await this.request(P.Req.removeFriend(user));
    await this.refreshFriends();
  }

  async createRoom(name) {
    await this.request(P.Req.createRoom(name));
    await this.refreshRooms();
  }

  async joinRoom(name) {
    await this.request(P.Req.joinRoom(name));
    await this.refreshRooms();
  }

  async leaveRoom(name) {
    await this.request(P.Req.leaveRoom(name));
    const key = "#" + name;
    if (this.state.active === key) this.state.active = null;
    this.state.convs.delete(key);
    await this.refreshRooms();
  }

  /** This user's devices, oldest first. */
  async devices() {
    const answer = await this.request(P.Req.devices());
    return answer.items;
  }

  async revokeDevice(id) {
    await this.request(P.Req.revokeDevice(id));
  }

  async setReceipts(on) {
    await this.request(P.Req.setReadReceipts(on));
    this.state.receipts = on;
    this.state.changed();
  }

  // ---- Conversations ------------------------------------------------------------

  /** Opens a conversation: its newest history page and files, and marks it read. */
  async open(key) {
    const s = this.state;
    s.active = key;
    const c = s.conv(key);
    // Where the "new messages" line goes while it stays open (if anything is unread).
    c.newFrom = c.unread(s.me) > 0 ? c.myRead : null;
    s.changed();
    if (!c.loaded) await this.loadNewest(c);
    this.markRead(key);
  }

  /** The newest page of a conversation, and back to the messages known before it. */
  async loadNewest(c) {
    await this.catchUp(c);
    c.loaded = true;
    this.loadFiles(c).catch(() => {});
    this.state.changed();
  }

  /** A room's messages sent while this page was away (room messages are not stream items). */
  async catchUpRoom(c) {
    await this.catchUp(c);
    if (c.key === this.state.active && this.ui.isVisible()) this.markRead(c.key);
  }

  /**
   * Pages back from the newest message until the pages meet what is already
   * known (nothing known: one page), so no gap is left between them.
   */
  async catchUp(c) {
    const known = c.newestSeq;
    let before = null;
    for (let pages = 0; pages < 25; pages++) {
      const page = await this.request(P.Req.history(P.keyPeer(c.key), before, HISTORY_PAGE));
      if (page.items.length === 0) {
        if (before === null) c.complete = true;
        break;
      }
      for (const m of page.items) this.state.addMessage(m);
      before = Math.min(...page.items.map((m) => m.seq));
      if (known === 0 || before <= known + 1) break;
    }
  }

  /** The page of history before the oldest message shown. */
  async loadOlder(key) {
    const c = this.state.conv(key);
    if (c.complete || c.loadingOlder || !c.loaded) return false;
    const before = c.oldestSeq;
    if (before === null) return false;
    c.loadingOlder = true;
    try {
      const page = await this.request(P.Req.history(P.keyPeer(key), before, HISTORY_PAGE));
      for (const m of page.items) this.state.addMessage(m);
      if (page.items.length === 0) c.complete = true;
      return page.items.length > 0;
    } finally {
      c.loadingOlder = false;
      this.state.changed();
    }
  }

  async loadFiles(c) {
    const files = await this.whole(P.List.files(P.keyPeer(c.key)));
    for (const f of files) {
      // Updated in place: a download in progress holds this object.
      const known = c.files.get(f.id) ?? {};
      Object.assign(known, { id: f.id, from: f.from, name: f.name, size: f.size, sha256: P.digestFrom(f.sha256), ts: f.ts });
      c.files.set(f.id, known);
    }
    this.state.changed();
  }

  /** Marks the conversation read up to its newest message. */
  markRead(key) {
    const c = this.state.conv(key);
    const seq = c.newestSeq;
    if (seq === 0 || seq <= c.myRead || !this.conn?.connected) return;
    c.myRead = seq;
    c.unreadBase = 0;
    c.unreadBaseSeq = seq;
    this.state.changed();
    this.request(P.Req.markRead(P.keyPeer(key), seq)).catch((e) => {
      if (e.code !== "disconnected") this.report(e);
    });
  }

  /** Queues `text` for `key`; it is shown at once and confirmed when stored. */
  send(key, text) {
    const item = { key, clientMsgId: freshId(), text, failed: null };
    this.outbox.push(item);
    this.state.conv(key).pending.push(item);
    this.lastTyping.delete(key);
    this.state.changed();
    this.transmit(item);
  }

  async transmit(item) {
    const c = this.state.conv(item.key);
    try {
      const sent = await this.request(P.Req.send(P.keyPeer(item.key), item.clientMsgId, item.text));
      this.outbox = this.outbox.filter((o) => o !== item);
      c.pending = c.pending.filter((o) => o !== item);
      const to = P.keyPeer(item.key);
      this.state.addMessage({ id: sent.id, seq: sent.seq, from: this.state.me, to, text: item.text, ts: sent.ts });
      if (c.key === this.state.active) this.markRead(c.key);
    } catch (e) {
      if (e.code === "disconnected") return; // sent again after the next login
      this.outbox = this.outbox.filter((o) => o !== item);
      item.failed = e.message;
      this.report(e);
    }
    this.state.changed();
  }

  /** Drops a failed message from view. */
  discard(item) {
    const c = this.state.conv(item.key);
    c.pending = c.pending.filter((o) => o !== item);
    this.state.changed();
  }

  /** Tells the other side this user is typing (at most every 2 s per conversation). */
  typing(key) {
    const now = Date.now();
    if (now - (this.lastTyping.get(key) ?? 0) < TYPING_EVERY_MS) return;
    this.lastTyping.set(key, now);
    this.request(P.Req.typing(P.keyPeer(key))).catch(() => {});
  }
}

// The session: logs in on every connection (the same device each time, so the
// server resumes from the device's position in the stream), turns items and
// events into state, and carries out what the user does. Sends go through an
// outbox with a client_msg_id each: one not answered before a disconnect is
// sent again after the next login, and the server stores it once.

import * as P from "./protocol.js";
import { Connection } from "./connection.js";
import { ChatError } from "./errors.js";

const HISTORY_PAGE = 40;
const TYPING_EVERY_MS = 2000;

/** Where this browser keeps the device id the server issued to `user`. */
const deviceKey = (user) => `chatcore.device.${location.host}.${user.toLowerCase()}`;

/** A name for this browser's device, e.g. "Chrome on Linux". */
function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom/.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "web";
  return `${browser} on ${os}`;
}

const randomId = () => Math.floor(Math.random() * 2 ** 52) + 1;

export class Session {
  constructor(state, ui) {
    this.state = state;
    this.ui = ui; // {notify(text, kind), loggedOut(message)}
    this.conn = null;
    this.credentials = null; // kept in memory only, to log in again after a reconnect
    this.outbox = []; // {key, clientMsgId, text}
    this.lastTyping = new Map();
  }

  wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws`;
  }

  /** Connects and logs in (registering first if `register`); resolves once logged in. */
  start(username, password, register) {
    this.credentials = { username, password, register };
    return new Promise((resolve, reject) => {
      this.firstLogin = { resolve, reject };
      this.conn = new Connection(this.wsUrl(), {
        onReady: (conn) => this.onReady(conn),
        onFrame: (frame) => this.onFrame(frame),
        onStatus: (status, detail) => {
          // The very first connection failed: say so on the login form
          // rather than retry behind it.
          if (status === "waiting" && this.firstLogin) {
            const { reject } = this.firstLogin;
            this.firstLogin = null;
            this.end();
            reject(new ChatError("unreachable"));
            return;
          }
          this.state.status = status;
          this.state.retryIn = detail ?? 0;
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
      this.handle(frame.event, frame.kind === "item");
    } catch (e) {
      console.error("while handling", frame, e);
    }
    // Acked once handled: what the page has taken in is not sent again.
    if (frame.kind === "item") this.conn?.ackItem(frame.pos);
    else if (frame.event.type === "Message") this.conn?.ackRoomMessage(frame.event.message.id);
  }

  handle(ev, fromStream) {
    const s = this.state;
    switch (ev.type) {
      case "Message": {
        const m = ev.message;
        const fresh = s.addMessage(m);
        const c = s.conv(s.keyOf(m));
        if (fresh && m.from !== s.me && c.key === s.active && this.ui.isVisible()) this.markRead(c.key);
        break;
      }
      case "DeliveredTo": {
        const c = s.conv("@" + ev.peer);
        c.delivered = Math.max(c.delivered, ev.seq);
        break;
      }
      case "Read": {
        const c = s.conv("@" + ev.by);
        c.readBy = Math.max(c.readBy, ev.seq);
        c.delivered = Math.max(c.delivered, ev.seq);
        break;
      }
      case "ReadUpTo": {
        const c = s.conv(P.peerKey(ev.peer));
        if (ev.seq >= c.myRead) {
          c.myRead = ev.seq;
          c.unreadBase = ev.unread;
          c.unreadBaseSeq = Math.max(ev.seq, c.newestSeq);
        }
        break;
      }
      case "Unread":
        for (const u of ev.conversations) {
          const c = s.conv(P.peerKey(u.peer));
          c.myRead = Math.max(c.myRead, u.read_seq);
          c.unreadBase = u.unread;
          c.unreadBaseSeq = u.last_seq;
        }
        break;
      case "RoomUnread": {
        const c = s.conv("#" + ev.room);
        if (c.unreadBaseSeq < ev.last_seq) {
          c.unreadBase += ev.last_seq - Math.max(ev.read_seq, c.unreadBaseSeq);
          c.unreadBaseSeq = ev.last_seq;
        }
        if (c.loaded) this.catchUpRoom(c).catch((e) => this.report(e));
        break;
      }
      case "Presence": {
        const f = s.friends.get(ev.user);
        if (f) f.online = ev.online;
        break;
      }
      case "FriendRequested":
        s.requests.set(ev.from, ev.note);
        if (!s.friends.has(ev.from)) s.friends.set(ev.from, { user: ev.from, state: "RequestReceived", online: false });
        break;
      case "FriendAdded":
        s.requests.delete(ev.user);
        s.friends.set(ev.user, { user: ev.user, state: "Friends", online: s.friends.get(ev.user)?.online ?? false });
        this.refreshFriends().catch(() => {});
        break;
      case "FriendRejected":
        if (s.friends.get(ev.user)?.state === "RequestSent") s.friends.delete(ev.user);
        if (fromStream) this.ui.notify(`${ev.user} declined your friend request.`, "info");
        break;
      case "FriendRemoved":
        s.friends.delete(ev.user);
        s.requests.delete(ev.user);
        break;
      case "Typing": {
        const key = "Room" in ev.to ? "#" + ev.to.Room : "@" + ev.from;
        s.conv(key).typing.set(ev.from, Date.now() + ev.expires_ms);
        setTimeout(() => s.changed(), ev.expires_ms + 50);
        break;
      }
      case "FileShared": {
        const key = "Room" in ev.to ? "#" + ev.to.Room : "@" + (ev.from === s.me ? ev.to.User : ev.from);
        const c = s.conv(key);
        if (!c.files.has(ev.id)) c.files.set(ev.id, { id: ev.id, from: ev.from, name: ev.name, size: ev.size, ts: Date.now() });
        break;
      }
      case "RoomJoined":
      case "RoomLeft": {
        const joined = ev.type === "RoomJoined";
        const room = s.rooms.get(ev.room);
        if (room) {
          room.members = Math.max(0, room.members + (joined ? 1 : -1));
          if (ev.user === s.me) room.joined = joined;
        } else if (ev.user === s.me) {
          s.rooms.set(ev.room, { name: ev.room, owner: "", members: 1, joined });
        }
        const c = s.conv("#" + ev.room);
        c.notices.push({ ts: Date.now(), text: `${ev.user === s.me ? "You" : ev.user} ${joined ? "joined" : "left"}` });
        break;
      }
      case "RoomDeleted": {
        s.rooms.delete(ev.room);
        if (s.active === "#" + ev.room) s.active = null;
        s.convs.delete("#" + ev.room);
        this.ui.notify(`#${ev.room} was deleted by its owner.`, "info");
        break;
      }
      case "FellBehind":
        this.ui.notify("This browser was away for long; older messages are in each conversation's history.", "info");
        break;
      case "CaughtUp":
        break;
      case "Kicked":
        this.end();
        this.ui.loggedOut(`You were logged out: ${ev.reason}.`);
        return;
      case "Closing":
        if (ev.code === "device_revoked") {
          localStorage.removeItem(deviceKey(s.me ?? ""));
          this.end();
          this.ui.loggedOut("This device was revoked from another of your devices.");
          return;
        }
        break;
      case "ServerShutdown":
        break; // the connection closes next; the page reconnects
      default:
        console.info("unhandled event", ev);
    }
    s.changed();
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
    const item = { key, clientMsgId: randomId(), text, failed: null };
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

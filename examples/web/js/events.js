// What each item and event from the server changes in the page's state.
// Everything here may come twice (a redelivery after a reconnect): each
// change is one that doing twice leaves as doing once.

import * as P from "./protocol.js";
import { deviceKey } from "./device.js";

/** Applies event `ev` (`fromStream`: it came as an item of the user's stream). */
export function applyEvent(session, ev, fromStream) {
  const s = session.state;
  switch (ev.type) {
    case "Message": {
      const m = ev.message;
      const fresh = s.addMessage(m);
      const c = s.conv(s.keyOf(m));
      // The backlog is marked read once, at CaughtUp.
      if (fresh && m.from !== s.me && c.key === s.active && !s.syncing && session.ui.isVisible()) session.markRead(c.key);
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
      if (c.loaded) session.catchUpRoom(c).catch((e) => session.report(e));
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
      session.refreshFriends().catch(() => {});
      break;
    case "FriendRejected":
      if (s.friends.get(ev.user)?.state === "RequestSent") s.friends.delete(ev.user);
      if (fromStream) session.ui.notify(`${ev.user} declined your friend request.`, "info");
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
      session.ui.notify(`#${ev.room} was deleted by its owner.`, "info");
      break;
    }
    case "FellBehind":
      session.ui.notify("This browser was away for long; older messages are in each conversation's history.", "info");
      break;
    case "CaughtUp":
      s.syncing = false;
      if (s.active && session.ui.isVisible()) session.markRead(s.active);
      break;
    case "Kicked":
      session.end();
      session.ui.loggedOut(`You were logged out: ${ev.reason}.`);
      return;
    case "Closing":
      if (ev.code === "device_revoked") {
        localStorage.removeItem(deviceKey(s.me ?? ""));
        session.end();
        session.ui.loggedOut("This device was revoked from another of your devices.");
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

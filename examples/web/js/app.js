// The page: the login screen or the chat (sidebar + conversation), toasts,
// and the glue between what the user does and the session.

import { State } from "./state.js";
import { Session } from "./session.js";
import { h, replace, confirmDialog } from "./dom.js";
import { loginView } from "./views/login.js";
import { sidebarView } from "./views/sidebar.js";
import { ChatPane } from "./views/chat.js";
import { addFriendDialog, roomsDialog, membersDialog, settingsDialog } from "./views/dialogs.js";
import { upload, download, save } from "./files.js";
import { isRoomKey, keyName } from "./protocol.js";

const root = document.getElementById("app");
const toasts = document.getElementById("toasts");
const state = new State();
const uploads = []; // {key, name, progress}

/** A message in the top corner for a few seconds. */
function notify(text, kind = "info") {
  const toast = h("div.toast", { class: kind, role: kind === "error" ? "alert" : "status" }, text);
  toasts.append(toast);
  setTimeout(() => toast.classList.add("leaving"), 3600);
  setTimeout(() => toast.remove(), 4000);
}

const session = new Session(state, {
  notify,
  loggedOut: (message) => showLogin(message),
  isVisible: () => document.visibilityState === "visible",
});

const chat = new ChatPane({
  send: (text) => state.active && session.send(state.active, text),
  typing: () => state.active && session.typing(state.active),
  discard: (item) => session.discard(item),
  loadOlder: () => state.active && session.loadOlder(state.active).catch(() => {}),
  back: () => {
    state.active = null;
    layout.dataset.view = "list";
    state.changed();
    sidebar.querySelector("[aria-current]")?.focus();
  },
  members: () => membersDialog(session, keyName(state.active), notify),
  leave: async () => {
    const room = keyName(state.active);
    if (!(await confirmDialog(`Leave #${room}?`, "Leave"))) return;
    try {
      await session.leaveRoom(room);
      layout.dataset.view = "list";
      notify(`You left #${room}.`, "info");
    } catch (e) {
      notify(e.message, "error");
    }
  },
  upload: async (file) => {
    const key = state.active;
    const entry = { key, name: file.name, progress: 0 };
    uploads.push(entry);
    try {
      await upload(session, key, file, (p) => {
        entry.progress = p;
        state.changed();
      });
      notify(`Sent ${file.name}.`, "success");
    } catch (e) {
      notify(`${file.name}: ${e.message}`, "error");
    } finally {
      uploads.splice(uploads.indexOf(entry), 1);
      state.changed();
    }
  },
  download: async (f) => {
    const key = state.active;
    try {
      const bytes = await download(session, key, f, (p) => {
        f.progress = p;
        state.changed();
      });
      f.verified = true;
      save(bytes, f.name);
    } catch (e) {
      notify(`${f.name}: ${e.message}`, "error");
    } finally {
      delete f.progress;
      state.changed();
    }
  },
});

const sidebar = h("aside.sidebar#sidebar");
const layout = h("div.layout", { "data-view": "list" }, sidebar, chat.root);

const sidebarActions = {
  open: (key) => {
    layout.dataset.view = "chat";
    session.open(key).catch((e) => notify(e.message, "error"));
    setTimeout(() => chat.input.focus(), 0);
  },
  respond: (user, accept) => session.respond(user, accept).catch((e) => notify(e.message, "error")),
  addFriend: () => addFriendDialog(session, notify),
  browseRooms: () => roomsDialog(session, notify, sidebarActions.open),
  openSettings: () => settingsDialog(session, notify),
  retryNow: () => session.conn?.retryNow(),
};

function render() {
  if (!state.me) return;
  replace(sidebar, sidebarView(state, sidebarActions));
  if (state.active && isRoomKey(state.active) && !state.rooms.get(keyName(state.active))?.joined && state.rooms.size > 0) {
    state.active = null;
  }
  // A conversation that went away (a room deleted or left elsewhere): back to the list on a phone.
  if (!state.active) layout.dataset.view = "list";
  chat.render(state, state.active, uploads);
  const unread = [...state.convs.values()].reduce((n, c) => n + c.unread(state.me), 0);
  document.title = unread > 0 ? `(${unread}) chatcore` : "chatcore";
}
state.subscribe(render);

function showLogin(message) {
  layout.dataset.view = "list";
  document.title = "chatcore";
  replace(root, loginView(async (username, password, register) => {
    await session.start(username, password, register);
    replace(root, layout);
    render();
  }, message));
  root.querySelector("#login-user")?.focus();
}

// Read marks: a conversation open in a visible tab is read.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.active) session.markRead(state.active);
});
window.addEventListener("focus", () => state.active && session.markRead(state.active));
// Reconnect at once when the network comes back.
window.addEventListener("online", () => session.conn?.retryNow());
// Typing notices expire on their own.
setInterval(() => {
  for (const c of state.convs.values()) {
    for (const [user, until] of c.typing) if (until <= Date.now()) { c.typing.delete(user); state.changed(); }
  }
}, 1000);
// Esc closes the emoji picker, else goes back to the list on a phone (dialogs
// close themselves first).
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.defaultPrevented || document.querySelector("dialog[open]")) return;
  const back = chat.root.querySelector("#back-button");
  if (!chat.picker.hidden) chat.togglePicker(false);
  else if (layout.dataset.view === "chat" && back && getComputedStyle(back).display !== "none") chat.actions.back();
});

showLogin(null);

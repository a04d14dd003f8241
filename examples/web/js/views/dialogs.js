// Dialogs: find and add a friend, browse / create / join rooms, a room's
// members, settings. Each is a modal <dialog>: focus stays inside, Esc closes.

import { h, replace, avatar, openDialog, formatTime } from "../dom.js";
import { emojify } from "../emoji.js";

/** Search users by name prefix and send a friend request with a note. */
export function addFriendDialog(session, notify) {
  const query = h("input#search-input", { type: "search", placeholder: "Search by name", "aria-label": "Search users", autocomplete: "off", spellcheck: false });
  const note = h("input#friend-note", { placeholder: "Add a note (optional), e.g. hi :wave:", "aria-label": "Note", maxLength: 512 });
  const results = h("div.results#search-results", { "aria-live": "polite" });
  let timer = null;
  let dialog;

  async function search() {
    const text = query.value.trim();
    if (!text) {
      replace(results, h("p.empty", {}, "Type the beginning of a name."));
      return;
    }
    try {
      const users = await session.search(text);
      const friends = session.state.friends;
      replace(
        results,
        users.length === 0
          ? h("p.empty", {}, "Nobody by that name.")
          : users.map((user) => {
              const known = friends.get(user);
              const label = known?.state === "Friends" ? "Friends" : known?.state === "RequestSent" ? "Requested" : known?.state === "RequestReceived" ? "Accept" : "Add";
              return h(
                "div.result",
                { "data-user": user },
                avatar(user),
                h("span.result-name", {}, user),
                h("button.small.primary", {
                  type: "button",
                  "data-action": "add",
                  disabled: label === "Friends" || label === "Requested",
                  onclick: async (e) => {
                    e.target.disabled = true;
                    try {
                      if (label === "Accept") await session.respond(user, true);
                      else {
                        const friends = await session.addFriend(user, emojify(note.value.trim()));
                        notify(friends ? `You and ${user} are now friends.` : `Friend request sent to ${user}.`, "success");
                      }
                      dialog.close();
                    } catch (err) {
                      notify(err.message, "error");
                      e.target.disabled = false;
                    }
                  },
                }, label),
              );
            }),
      );
    } catch (err) {
      replace(results, h("p.form-error", {}, err.message));
    }
  }

  query.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  query.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      clearTimeout(timer);
      search();
    }
  });
  dialog = openDialog("Add a friend", query, note, results);
  search();
  query.focus();
}

/** Every room, with join buttons, and a field to create one. */
export function roomsDialog(session, notify, open) {
  const name = h("input#room-name", { placeholder: "new-room", "aria-label": "New room name", pattern: "[A-Za-z0-9_.\\-]{3,32}", required: true, spellcheck: false, autocapitalize: "off" });
  const list = h("div.results#room-results");
  let dialog;

  async function load() {
    try {
      const rooms = await session.refreshRooms();
      replace(
        list,
        rooms.length === 0
          ? h("p.empty", {}, "No rooms yet: create the first one.")
          : rooms.map((r) =>
              h(
                "div.result",
                { "data-room": r.name },
                avatar(r.name, undefined, true),
                h("span.result-name", {}, `#${r.name}`, h("span.result-sub", {}, ` ${r.members} member${r.members === 1 ? "" : "s"} · owner ${r.owner}`)),
                r.joined
                  ? h("button.small", { type: "button", onclick: () => { dialog.close(); open("#" + r.name); } }, "Open")
                  : h("button.small.primary", { type: "button", "data-action": "join", onclick: async () => {
                      try {
                        await session.joinRoom(r.name);
                        dialog.close();
                        open("#" + r.name);
                      } catch (err) {
                        notify(err.message, "error");
                      }
                    } }, "Join"),
              ),
            ),
      );
    } catch (err) {
      replace(list, h("p.form-error", {}, err.message));
    }
  }

  const form = h(
    "form.inline-form#create-room",
    { onsubmit: async (e) => {
      e.preventDefault();
      const room = name.value.trim().replace(/^#/, "");
      try {
        await session.createRoom(room);
        dialog.close();
        notify(`Created #${room}.`, "success");
        open("#" + room);
      } catch (err) {
        notify(err.message, "error");
      }
    } },
    name,
    h("button.primary", { type: "submit" }, "Create"),
  );
  dialog = openDialog("Rooms", h("h3", {}, "Create a room"), form, h("h3", {}, "All rooms"), list);
  load();
  name.focus();
}

/** A room's members with presence. */
export async function membersDialog(session, room, notify) {
  const list = h("div.results#member-list", {}, h("p.empty", {}, "Loading…"));
  openDialog(`Members of #${room}`, list);
  try {
    const members = await session.members(room);
    members.sort((a, b) => Number(b.online) - Number(a.online) || a.user.localeCompare(b.user));
    replace(list, members.map((m) =>
      h("div.result", { "data-user": m.user }, avatar(m.user, m.online), h("span.result-name", {}, m.user, m.user === session.state.me ? " (you)" : ""), h("span.result-sub", {}, m.online ? "online" : "offline"))));
  } catch (err) {
    replace(list, h("p.form-error", {}, err.message));
    notify(err.message, "error");
  }
}

/** Read receipts, your devices (revoke the others), log out. */
export function settingsDialog(session, notify) {
  const s = session.state;
  const receipts = h("input#receipts-toggle", { type: "checkbox", checked: s.receipts, onchange: async (e) => {
    try {
      await session.setReceipts(e.target.checked);
    } catch (err) {
      e.target.checked = !e.target.checked;
      notify(err.message, "error");
    }
  } });
  const devices = h("div.results#device-list", {}, h("p.empty", {}, "Loading…"));

  async function loadDevices() {
    try {
      const list = await session.devices();
      replace(devices, list.map((d) =>
        h("div.result", { "data-device": d.id },
          h("span.device-icon", { "aria-hidden": "true" }, "💻"),
          h("span.result-name", {}, d.name, h("span.result-sub", {}, d.id === s.deviceId ? " · this browser" : d.online ? " · online" : ` · last seen ${formatTime(d.last_seen)}`)),
          d.id === s.deviceId ? null : h("button.small.danger", { type: "button", "data-action": "revoke", onclick: async () => {
            try {
              await session.revokeDevice(d.id);
              notify(`Revoked ${d.name}.`, "success");
              loadDevices();
            } catch (err) {
              notify(err.message, "error");
            }
          } }, "Revoke"))));
    } catch (err) {
      replace(devices, h("p.form-error", {}, err.message));
    }
  }

  const dialog = openDialog(
    "Settings",
    h("p", {}, "Logged in as ", h("strong", {}, s.me), "."),
    h("label.check", {}, receipts, " Let others see when I have read their messages"),
    h("h3", {}, "Your devices"),
    devices,
    h("button.danger.wide#logout-button", { type: "button", onclick: () => { dialog.close(); session.logout(); } }, "Log out"),
  );
  loadDevices();
}

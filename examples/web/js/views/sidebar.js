// The sidebar: who you are and the connection, friend requests, friends with
// presence, rooms, each with its unread badge.

import { h, avatar } from "../dom.js";

const STATUS = {
  online: ["online", "Connected"],
  connecting: ["connecting", "Connecting…"],
  waiting: ["offline", "Offline, reconnecting…"],
  stopped: ["offline", "Disconnected"],
};

function badge(count) {
  return count > 0 ? h("span.badge", { "aria-label": `${count} unread` }, count > 99 ? "99+" : String(count)) : null;
}

/** The newest message of a conversation, shortened: "You: hi", "bob: hi" (rooms), "hi". */
function preview(c, me) {
  if (!c || c.messages.size === 0) return null;
  const m = c.messages.get(c.newestSeq);
  if (!m) return null;
  const who = m.from === me ? "You: " : c.isRoom ? `${m.from}: ` : "";
  const text = m.text.replace(/\s+/g, " ");
  return who + (text.length > 60 ? text.slice(0, 60) + "…" : text);
}

/** Draws the sidebar for `state` into `root`; `actions` are the app's handlers. */
export function sidebarView(state, actions) {
  const [statusClass, statusText] = state.status === "online" && state.syncing ? ["connecting", "Syncing…"] : STATUS[state.status] ?? STATUS.stopped;
  const header = h(
    "header.me",
    {},
    avatar(state.me ?? "?", state.status === "online"),
    h("div.me-text", {}, h("strong#me-name", {}, state.me ?? ""), h("span.status#conn-status", { class: statusClass, "data-status": state.status, "data-node": state.node ?? "", title: state.node ? `Server ${state.node}` : "" }, statusText)),
    h("button.icon#menu-button", { type: "button", "aria-label": "Settings", title: "Settings", "data-focus": "menu", onclick: actions.openSettings }, "⚙"),
  );

  const requests = [...state.requests.entries()];
  const requestSection = requests.length
    ? h(
        "section.requests",
        { "aria-label": "Friend requests" },
        h("h3", {}, "Friend requests"),
        requests.map(([user, note]) =>
          h(
            "div.request",
            { "data-user": user },
            avatar(user),
            h("div.request-text", {}, h("strong", {}, user), note ? h("span.note", {}, `“${note}”`) : h("span.note", {}, "wants to be your friend")),
            h("button.small.primary", { type: "button", "data-focus": `accept-${user}`, "data-action": "accept", onclick: () => actions.respond(user, true) }, "Accept"),
            h("button.small", { type: "button", "data-focus": `reject-${user}`, "data-action": "reject", onclick: () => actions.respond(user, false) }, "Reject"),
          ),
        ),
      )
    : null;

  const friends = state.friendList().sort((a, b) => Number(b.online) - Number(a.online) || a.user.localeCompare(b.user));
  const friendItems = friends.map((f) => {
    const key = "@" + f.user;
    const c = state.convs.get(key);
    const pending = f.state === "RequestSent";
    const typing = c && [...c.typing.values()].some((t) => t > Date.now());
    const subtitle = pending ? "request sent" : f.state === "Blocked" ? "blocked" : typing ? "typing…" : preview(c, state.me) ?? (f.online ? "online" : "offline");
    return h(
      "button.conv",
      {
        type: "button",
        "data-key": key,
        "data-focus": key,
        "data-online": f.online ? "true" : "false",
        "aria-current": state.active === key ? "true" : null,
        disabled: pending || f.state === "Blocked",
        onclick: () => actions.open(key),
      },
      avatar(f.user, f.state === "Friends" ? f.online : undefined),
      h("span.conv-text", {}, h("span.conv-name", {}, f.user), h("span.conv-sub", { class: typing ? "is-typing" : null }, subtitle)),
      badge(c ? c.unread(state.me) : 0),
    );
  });

  const rooms = state.joinedRooms().sort((a, b) => a.name.localeCompare(b.name));
  const roomItems = rooms.map((r) => {
    const key = "#" + r.name;
    const c = state.convs.get(key);
    return h(
      "button.conv",
      { type: "button", "data-key": key, "data-focus": key, "aria-current": state.active === key ? "true" : null, onclick: () => actions.open(key) },
      avatar(r.name, undefined, true),
      h("span.conv-text", {}, h("span.conv-name", {}, r.name), h("span.conv-sub", {}, preview(c, state.me) ?? `${r.members} member${r.members === 1 ? "" : "s"}`)),
      badge(c ? c.unread(state.me) : 0),
    );
  });

  return [
    header,
    state.status !== "online" && state.status !== "connecting"
      ? h("div.banner#reconnect-banner", { role: "status" }, "Offline: reconnecting… ",
          h("button.link", { type: "button", onclick: actions.retryNow }, "Retry now"))
      : null,
    h(
      "nav.lists",
      { "aria-label": "Conversations" },
      requestSection,
      h(
        "section",
        { "aria-label": "Friends" },
        h("h3", {}, "Friends", h("button.icon.add#add-friend", { type: "button", "aria-label": "Add a friend", title: "Add a friend", "data-focus": "add-friend", onclick: actions.addFriend }, "+")),
        friendItems.length ? h("div.conv-list#friend-list", {}, friendItems) : h("p.empty", {}, "No friends yet. Press + to find someone."),
      ),
      h(
        "section",
        { "aria-label": "Rooms" },
        h("h3", {}, "Rooms", h("button.icon.add#add-room", { type: "button", "aria-label": "Browse or create rooms", title: "Browse or create rooms", "data-focus": "add-room", onclick: actions.browseRooms }, "+")),
        roomItems.length ? h("div.conv-list#room-list", {}, roomItems) : h("p.empty", {}, "No rooms yet. Press + to join or create one."),
      ),
    ),
  ];
}

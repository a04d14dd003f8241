// The open conversation: header, timeline (messages with their marks, files,
// join/leave notices, day separators), older history on scroll up, who is
// typing, and the composer (Enter sends, Shift+Enter is a new line).

import { h, replace, avatar, hue, formatTime, formatDay } from "../dom.js";
import { keyName } from "../protocol.js";
import { emojify, suggest, PICKER, SHORTCODES } from "../emoji.js";
import { formatSize } from "../files.js";

const GROUP_MS = 5 * 60 * 1000;

/** The timeline's entries in order: messages by seq, files and notices placed by time. */
function entries(c) {
  const messages = [...c.messages.values()].sort((a, b) => a.seq - b.seq).map((m) => ({ kind: "message", ts: m.ts, m }));
  const extras = [
    ...[...c.files.values()].map((f) => ({ kind: "file", ts: f.ts, f })),
    ...c.notices.map((n) => ({ kind: "notice", ts: n.ts, n })),
  ].sort((a, b) => a.ts - b.ts);
  // Before the oldest message loaded, older extras would only mislead.
  const floor = c.complete || messages.length === 0 ? -Infinity : messages[0].ts;
  const out = [];
  let i = 0;
  for (const e of extras) {
    if (e.ts < floor) continue;
    while (i < messages.length && messages[i].ts <= e.ts) out.push(messages[i++]);
    out.push(e);
  }
  while (i < messages.length) out.push(messages[i++]);
  return out;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'’”]/g;

/** Text with its http(s) links as links (text nodes and anchors, never HTML). */
function linkify(text) {
  const out = [];
  let at = 0;
  for (const match of text.matchAll(URL_RE)) {
    out.push(text.slice(at, match.index));
    out.push(h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" }, match[0]));
    at = match.index + match[0].length;
  }
  out.push(text.slice(at));
  return out;
}

/** The mark of my message `m` in a 1:1 conversation. */
function mark(c, m) {
  if (c.isRoom) return h("span.mark", { "data-mark": "sent", title: "Sent" }, "✓");
  if (m.seq <= c.readBy) return h("span.mark.read", { "data-mark": "read", title: "Read" }, "✓✓");
  if (m.seq <= c.delivered) return h("span.mark", { "data-mark": "delivered", title: "Delivered" }, "✓✓");
  return h("span.mark", { "data-mark": "sent", title: "Sent" }, "✓");
}

export class ChatPane {
  /** `actions`: send(text), typing(), upload(file), download(file), loadOlder(), back(), members(), leave(). */
  constructor(actions) {
    this.actions = actions;
    this.key = null;
    this.header = h("header.chat-header");
    this.timeline = h("div.timeline#timeline", { tabindex: "0", role: "log", "aria-live": "polite", "aria-label": "Messages" });
    this.timeline.addEventListener("scroll", () => {
      if (this.timeline.scrollTop < 120) this.actions.loadOlder();
    });
    this.typingLine = h("div.typing#typing", { "aria-live": "polite" });
    this.uploads = h("div.uploads#uploads");
    this.input = h("textarea#composer", { rows: 1, placeholder: "Write a message…", "aria-label": "Message", maxLength: 16000 });
    this.input.addEventListener("keydown", (e) => {
      // Tab takes the first shortcode suggestion, Esc drops them.
      if (!this.suggestions.hidden && (e.key === "Tab" || e.key === "Escape")) {
        e.preventDefault();
        if (e.key === "Tab") this.suggestions.querySelector("button")?.click();
        this.suggestions.hidden = true;
        return;
      }
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => {
      this.grow();
      if (this.input.value.trim()) this.actions.typing();
      this.suggest();
    });
    this.fileInput = h("input#file-input", { type: "file", hidden: true, onchange: () => {
      for (const file of this.fileInput.files) this.actions.upload(file);
      this.fileInput.value = "";
    } });
    this.picker = h("div.picker#emoji-picker", { hidden: true, role: "dialog", "aria-label": "Emoji" },
      PICKER.map((code) => h("button.emoji", { type: "button", title: `:${code}:`, "aria-label": code.replace(/_/g, " "), onclick: () => {
      this.togglePicker(false);
      this.insert(SHORTCODES[code]);
    } }, SHORTCODES[code])));
    this.picker.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.togglePicker(false);
        this.input.focus();
        return;
      }
      // Arrow keys move through the grid.
      const buttons = [...this.picker.querySelectorAll("button")];
      const at = buttons.indexOf(document.activeElement);
      const columns = getComputedStyle(this.picker).gridTemplateColumns.split(" ").length;
      const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns }[e.key];
      if (step !== undefined && at >= 0) {
        e.preventDefault();
        buttons[Math.max(0, Math.min(buttons.length - 1, at + step))].focus();
      }
    });
    this.suggestions = h("div.suggestions#emoji-suggestions", { hidden: true });
    this.composer = h(
      "form.composer",
      { onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      this.picker,
      this.suggestions,
      h("button.icon#emoji-button", { type: "button", "aria-label": "Emoji", title: "Emoji", onclick: () => this.togglePicker() }, "😊"),
      h("button.icon#attach-button", { type: "button", "aria-label": "Send a file", title: "Send a file", onclick: () => this.fileInput.click() }, "📎"),
      this.fileInput,
      this.input,
      h("button.primary.send#send-button", { type: "submit", "aria-label": "Send" }, "Send"),
    );
    this.empty = h("div.chat-empty", {}, h("img.logo", { src: "favicon.svg", alt: "", width: 72, height: 72 }), h("p", {}, "Pick a friend or a room to start chatting."));
    this.root = h("section.chat#chat", { "aria-label": "Conversation" }, this.empty);
  }

  grow() {
    this.input.style.height = "auto";
    this.input.style.height = Math.min(160, this.input.scrollHeight) + "px";
  }

  submit() {
    const text = emojify(this.input.value.trim());
    if (!text) return;
    this.actions.send(text);
    this.input.value = "";
    this.grow();
    this.suggest();
    this.togglePicker(false);
  }

  insert(text) {
    const { selectionStart: a, selectionEnd: b, value } = this.input;
    this.input.value = value.slice(0, a) + text + value.slice(b);
    this.input.focus();
    this.input.selectionStart = this.input.selectionEnd = a + text.length;
  }

  togglePicker(show = this.picker.hidden) {
    this.picker.hidden = !show;
    if (show) this.picker.querySelector("button")?.focus();
  }

  /** Suggestions for a `:code` being typed at the cursor. */
  suggest() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = /:([A-Za-z0-9_+-]{2,})$/.exec(before);
    if (!match) {
      this.suggestions.hidden = true;
      return;
    }
    const found = suggest(match[1], 6);
    this.suggestions.hidden = found.length === 0;
    replace(this.suggestions, found.map(([code, emoji]) => h("button.suggestion", { type: "button", onclick: () => {
      const start = this.input.selectionStart - match[0].length;
      this.input.setSelectionRange(start, this.input.selectionStart);
      this.insert(emoji);
      this.suggestions.hidden = true;
    } }, emoji, " ", h("span", {}, `:${code}:`))));
  }

  /** Draws conversation `key` (null: none open). */
  render(state, key, uploads) {
    if (key === null) {
      this.key = null;
      replace(this.root, this.empty);
      return;
    }
    const switched = this.key !== key;
    this.key = key;
    const c = state.conv(key);
    const name = keyName(key);
    if (switched) {
      replace(this.root, this.header, this.timeline, this.typingLine, this.uploads, this.composer);
      this.input.placeholder = c.isRoom ? `Message #${name}` : `Message ${name}`;
    }
    this.renderHeader(state, c, name);
    this.renderTimeline(state, c, switched);
    const typers = [...c.typing.entries()].filter(([, until]) => until > Date.now()).map(([u]) => u);
    this.typingLine.textContent = typers.length === 0 ? "" : typers.length === 1 ? `${typers[0]} is typing…` : `${typers.join(", ")} are typing…`;
    replace(this.uploads, uploads.filter((u) => u.key === key).map((u) =>
      h("div.upload", { "data-upload": u.name }, h("span.upload-name", {}, `Sending ${u.name}`), h("progress", { max: 1, value: u.progress }), h("span.pct", {}, `${Math.round(u.progress * 100)}%`))));
  }

  renderHeader(state, c, name) {
    let sub;
    if (c.isRoom) {
      const room = state.rooms.get(name);
      sub = room ? `${room.members} member${room.members === 1 ? "" : "s"}${room.owner ? ` · owner ${room.owner}` : ""}` : "";
    } else {
      const f = state.friends.get(name);
      sub = f?.online ? "online" : "offline";
    }
    const online = c.isRoom ? undefined : state.friends.get(name)?.online ?? false;
    replace(
      this.header,
      h("button.icon.back#back-button", { type: "button", "aria-label": "Back to conversations", onclick: this.actions.back }, "←"),
      avatar(name, online, c.isRoom),
      h("div.chat-title", {}, h("h2#chat-title", {}, c.isRoom ? `#${name}` : name), h("span.chat-sub#chat-sub", {}, sub)),
      c.isRoom
        ? [
            h("button.small#members-button", { type: "button", "data-focus": "members", onclick: this.actions.members }, "Members"),
            h("button.small.danger#leave-button", { type: "button", "data-focus": "leave", onclick: this.actions.leave }, "Leave"),
          ]
        : null,
    );
  }

  /** Everything the timeline shows depends on, so an unchanged one is left alone (and a text selection in it survives). */
  signature(state, c) {
    const files = [...c.files.values()].map((f) => `${f.id}:${f.progress ?? ""}:${f.verified ?? ""}:${f.ts}`).join(",");
    const pending = c.pending.map((p) => `${p.clientMsgId}:${p.failed ?? ""}`).join(",");
    return [c.key, state.me, c.messages.size, c.newestSeq, c.oldestSeq, c.delivered, c.readBy, c.loaded, c.complete, c.loadingOlder, c.newFrom, c.notices.length, files, pending, new Date().toDateString()].join("|");
  }

  renderTimeline(state, c, switched) {
    const tl = this.timeline;
    const signature = this.signature(state, c);
    if (!switched && signature === this.drawn) return;
    this.drawn = signature;
    const fromBottom = tl.scrollHeight - tl.scrollTop - tl.clientHeight;
    const atBottom = switched || fromBottom < 60;
    const nodes = [];
    if (c.loaded && c.complete) nodes.push(h("div.history-start", {}, "This is the beginning of the conversation."));
    else if (c.loadingOlder) nodes.push(h("div.history-start", {}, "Loading older messages…"));
    let lastDay = null;
    let last = null;
    let newLine = false;
    for (const e of entries(c)) {
      const day = new Date(e.ts).toDateString();
      if (day !== lastDay) {
        nodes.push(h("div.day", {}, h("span", {}, formatDay(e.ts))));
        lastDay = day;
        last = null;
      }
      if (e.kind === "notice") {
        nodes.push(h("div.notice", {}, e.n.text));
        last = null;
      } else if (e.kind === "file") {
        nodes.push(this.fileCard(state, c, e.f));
        last = null;
      } else {
        const m = e.m;
        const mine = m.from === state.me;
        if (!mine && !newLine && c.newFrom !== null && m.seq > c.newFrom && nodes.length > 0) {
          nodes.push(h("div.new-line", { role: "separator" }, h("span", {}, "New messages")));
          newLine = true;
          last = null;
        }
        const grouped = last && last.from === m.from && m.ts - last.ts < GROUP_MS;
        nodes.push(
          h(
            "div.msg",
            { class: `${mine ? "mine" : "theirs"}${grouped ? " grouped" : ""}`, "data-seq": m.seq, "data-id": m.id, "data-from": m.from },
            !mine && c.isRoom && !grouped ? h("span.sender", { style: { "--hue": hue(m.from) } }, m.from) : null,
            h("div.bubble", {}, h("span.text", {}, linkify(m.text)), h("span.meta", {}, h("time", { datetime: new Date(m.ts).toISOString() }, formatTime(m.ts)), mine ? mark(c, m) : null)),
          ),
        );
        last = m;
      }
    }
    for (const p of c.pending) {
      nodes.push(
        h(
          "div.msg.mine.pending",
          { "data-pending": "true" },
          h("div.bubble", {},
            h("span.text", {}, p.text),
            h("span.meta", {}, p.failed ? h("span.mark.failed", { title: p.failed }, "Not sent") : h("span.mark", { "data-mark": "sending", title: "Sending…" }, "🕓"))),
          p.failed ? h("button.link.small", { type: "button", onclick: () => this.actions.discard(p) }, "Dismiss") : null,
        ),
      );
    }
    if (nodes.length === 0 || (c.loaded && c.messages.size === 0 && c.pending.length === 0 && c.files.size === 0)) {
      nodes.push(h("div.empty-chat", {}, c.loaded ? "No messages yet. Say hi! 👋" : "Loading…"));
    }
    tl.replaceChildren(...nodes);
    if (switched) this.jump = true;
    const line = tl.querySelector(".new-line");
    if (this.jump && c.loaded) {
      // Just opened: show the first unread message, or the newest.
      this.jump = false;
      tl.scrollTop = line ? line.offsetTop - 24 : tl.scrollHeight; // the timeline is the line's offsetParent
    } else if (atBottom) tl.scrollTop = tl.scrollHeight;
    else tl.scrollTop = tl.scrollHeight - tl.clientHeight - fromBottom;
    // Nothing to scroll yet, but older messages exist: fetch them now.
    if (c.loaded && !c.complete && !c.loadingOlder && tl.scrollHeight <= tl.clientHeight) this.actions.loadOlder();
  }

  fileCard(state, c, f) {
    const mine = f.from === state.me;
    return h(
      "div.msg",
      { class: mine ? "mine" : "theirs", "data-file-id": f.id },
      !mine && c.isRoom ? h("span.sender", { style: { "--hue": hue(f.from) } }, f.from) : null,
      h(
        "div.bubble.file-card",
        {},
        h("span.file-icon", { "aria-hidden": "true" }, "📄"),
        h("span.file-text", {}, h("strong.file-name", {}, f.name), h("span.file-size", {}, formatSize(f.size), f.verified ? " · SHA-256 checked ✓" : "")),
        f.progress !== undefined && f.progress < 1
          ? h("progress", { max: 1, value: f.progress, "aria-label": `Downloading ${f.name}` })
          : h("button.small", { type: "button", "data-action": "download", onclick: () => this.actions.download(f) }, "Download"),
      ),
    );
  }
}

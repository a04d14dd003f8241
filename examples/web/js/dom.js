// A few DOM helpers: every bit of text from the server goes in as text, never
// as HTML.

/**
 * h("button.primary", {onclick, "data-focus": "x"}, "Send") -> an element.
 * The tag may carry ".class" and "#id" suffixes; attributes starting with "on"
 * are listeners; `false`/`null` attributes are left out; children may be
 * strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name);
  for (const part of rest) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className += (el.className ? " " : "") + value;
    else if (key === "style" && typeof value === "object") {
      for (const [prop, v] of Object.entries(value)) el.style.setProperty(prop, String(v));
    }
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/**
 * Replaces `parent`'s children with `children`, keeping keyboard focus on the
 * element with the same `data-focus` key (so redraws do not lose your place).
 */
export function replace(parent, ...children) {
  const focused = document.activeElement?.closest?.("[data-focus]");
  const focusKey = focused && parent.contains(focused) ? focused.dataset.focus : null;
  parent.replaceChildren();
  append(parent, children);
  if (focusKey) parent.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`)?.focus();
}

/** A stable colour for a name (its avatar). */
export function hue(name) {
  let n = 0;
  for (const c of name.toLowerCase()) n = (n * 31 + c.codePointAt(0)) % 360;
  return n;
}

/** A round avatar with the name's initial, and a presence dot if `online` is a boolean. */
export function avatar(name, online, room = false) {
  return h(
    "span.avatar",
    { style: { "--hue": hue(name) }, "aria-hidden": "true", class: room ? "room" : null },
    room ? "#" : Array.from(name)[0]?.toUpperCase() ?? "?",
    typeof online === "boolean" ? h("span.dot", { class: online ? "on" : "off" }) : null,
  );
}

/** "14:05", or "Mon 14:05" / "3 Dec 14:05" for older ones. */
export function formatTime(ts) {
  const d = new Date(ts);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return time;
  const day = d.toLocaleDateString([], { day: "numeric", month: "short" });
  return `${day} ${time}`;
}

/** "Today", "Yesterday" or the date, for day separators. */
export function formatDay(ts) {
  const d = new Date(ts);
  const today = new Date();
  const yesterday = new Date(Date.now() - 86400000);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return d.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

/** Opens a modal <dialog>; Esc and the close buttons close it; it is removed when closed. */
export function openDialog(title, ...body) {
  const dialog = h(
    "dialog.dialog",
    { "aria-label": title },
    h("header", {}, h("h2", {}, title), h("button.icon.close", { type: "button", "aria-label": "Close", onclick: () => dialog.close() }, "✕")),
    h("div.dialog-body", {}, ...body),
  );
  dialog.addEventListener("close", () => dialog.remove());
  dialog.addEventListener("click", (e) => {
    if (e.target === dialog) dialog.close(); // a click on the backdrop
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Asks a yes/no question in a modal dialog; resolves true if confirmed. */
export function confirmDialog(question, okLabel) {
  return new Promise((resolve) => {
    let answer = false;
    const ok = h("button.primary.danger-fill#confirm-ok", { type: "button", onclick: () => { answer = true; dialog.close(); } }, okLabel);
    const cancel = h("button#confirm-cancel", { type: "button", onclick: () => dialog.close() }, "Cancel");
    const dialog = openDialog(question, h("div.actions", {}, cancel, ok));
    dialog.addEventListener("close", () => resolve(answer));
    ok.focus();
  });
}

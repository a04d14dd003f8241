// Emoji: `:smile:` shortcodes become emoji as chat-client does
// (examples/src/client/emoji.rs: GitHub/gemoji names, unknown codes kept as
// typed), and the picker's choice.

import { SHORTCODES } from "./emoji-data.js";

const isCodeChar = (c) => /[A-Za-z0-9_+-]/.test(c);

/** Replaces every `:shortcode:` that names an emoji; everything else is kept. */
export function emojify(text) {
  let out = "";
  let rest = text;
  for (;;) {
    const start = rest.indexOf(":");
    if (start < 0) break;
    out += rest.slice(0, start);
    const after = rest.slice(start + 1);
    let len = 0;
    while (len < after.length && isCodeChar(after[len])) len++;
    if (len > 0 && after[len] === ":" && Object.hasOwn(SHORTCODES, after.slice(0, len))) {
      out += SHORTCODES[after.slice(0, len)];
      rest = after.slice(len + 1);
      continue;
    }
    out += ":";
    rest = after;
  }
  return out + rest;
}

/** Shortcodes starting with `prefix`, for suggestions: [[code, emoji], ...]. */
export function suggest(prefix, limit = 8) {
  const out = [];
  for (const code in SHORTCODES) {
    if (code.startsWith(prefix)) {
      out.push([code, SHORTCODES[code]]);
      if (out.length === limit) break;
    }
  }
  return out;
}

/** The picker's emoji, by shortcode (each is in SHORTCODES). */
export const PICKER = [
  "smile", "grin", "joy", "rofl", "wink", "blush", "heart_eyes", "kissing_heart",
  "thinking", "neutral_face", "roll_eyes", "sweat_smile", "sob", "cry", "angry", "scream",
  "sunglasses", "partying_face", "upside_down_face", "relieved", "sleeping", "nerd_face", "hugs", "shushing_face",
  "wave", "+1", "-1", "clap", "pray", "muscle", "ok_hand", "raised_hands",
  "heart", "orange_heart", "yellow_heart", "green_heart", "blue_heart", "purple_heart", "broken_heart", "sparkling_heart",
  "fire", "tada", "sparkles", "star", "rocket", "100", "white_check_mark", "x",
  "eyes", "coffee", "pizza", "beer", "cake", "sun_with_face", "rainbow", "zap",
].filter((code) => Object.hasOwn(SHORTCODES, code));

export { SHORTCODES };

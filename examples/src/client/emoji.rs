//! `:smile:`-style shortcodes in outgoing text, turned into emoji.

/// Replaces every `:shortcode:` that names an emoji (GitHub/gemoji shortcodes, as
/// known to the `emojis` crate) with the emoji. Unknown shortcodes and lone colons
/// are left as they are.
pub fn emojify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(':') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let code_len = after
            .find(|c: char| !is_shortcode_char(c))
            .unwrap_or(after.len());
        if code_len > 0 && after[code_len..].starts_with(':') {
            if let Some(emoji) = emojis::get_by_shortcode(&after[..code_len]) {
                out.push_str(emoji.as_str());
                rest = &after[code_len + 1..];
                continue;
            }
        }
        // Not a shortcode: keep this colon; the next one may open a shortcode.
        out.push(':');
        rest = after;
    }
    out.push_str(rest);
    out
}

fn is_shortcode_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-')
}

#[cfg(test)]
mod tests {
    use super::emojify;

    #[test]
    fn known_shortcodes_become_emoji() {
        assert_eq!(emojify(":smile:"), "😄");
        assert_eq!(emojify("hi :wave: there :+1:"), "hi 👋 there 👍");
        assert_eq!(emojify(":smile::smile:"), "😄😄");
    }

    #[test]
    fn everything_else_is_kept() {
        assert_eq!(emojify(""), "");
        assert_eq!(emojify("no codes here"), "no codes here");
        assert_eq!(emojify(":nosuchcode:"), ":nosuchcode:");
        assert_eq!(emojify("at 10:30:00 sharp"), "at 10:30:00 sharp");
        assert_eq!(emojify("a: b :: c :"), "a: b :: c :");
        assert_eq!(emojify(":not a code: :smile"), ":not a code: :smile");
        assert_eq!(emojify("ünïcödé :smile: ✓"), "ünïcödé 😄 ✓");
    }

    #[test]
    fn an_unknown_code_does_not_swallow_the_next_one() {
        assert_eq!(emojify(":nope:smile:"), ":nope😄");
    }
}

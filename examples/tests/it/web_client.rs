//! The web client's tables that mirror Rust ones, checked without a browser:
//! its emoji shortcodes are the `emojis` crate's (what chat-client knows), and
//! it has a sentence for every `ErrorCode`.
//!
//! `CHATCORE_WRITE_WEB_EMOJI=1 cargo test -p chatcore-examples --test it web_client`
//! rewrites `examples/web/js/emoji-data.js` from the crate.

use std::path::PathBuf;

use chatcore::protocol::ErrorCode;

fn web_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("web")
        .join(path)
}

/// `emoji-data.js` as generated from the `emojis` crate: every shortcode of
/// every emoji, in the crate's order.
fn emoji_table() -> String {
    let mut out = String::from(
        "// Generated from the `emojis` crate by examples/tests/it/web_client.rs\n\
         // (CHATCORE_WRITE_WEB_EMOJI=1): the GitHub/gemoji shortcodes chat-client knows.\n\
         export const SHORTCODES = {\n",
    );
    let mut seen = std::collections::HashSet::new();
    for emoji in emojis::iter() {
        for code in emoji.shortcodes() {
            if seen.insert(code) {
                let line = format!(
                    "  {}: {},\n",
                    serde_json::to_string(code).expect("json"),
                    serde_json::to_string(emoji.as_str()).expect("json")
                );
                out.push_str(&line);
            }
        }
    }
    out.push_str("};\n");
    out
}

#[test]
fn emoji_shortcodes_are_the_crates() {
    let path = web_file("js/emoji-data.js");
    let expected = emoji_table();
    if std::env::var_os("CHATCORE_WRITE_WEB_EMOJI").is_some() {
        std::fs::write(&path, &expected).expect("write emoji-data.js");
    }
    let actual = std::fs::read_to_string(&path).expect("read emoji-data.js");
    assert!(
        actual == expected,
        "{} is not what the emojis crate knows: regenerate it with CHATCORE_WRITE_WEB_EMOJI=1",
        path.display()
    );
    for code in ["smile", "wave", "+1", "tada"] {
        assert!(actual.contains(&format!("\"{code}\":")), "{code} missing");
    }
}

#[test]
fn every_error_code_has_a_sentence() {
    let errors = std::fs::read_to_string(web_file("js/errors.js")).expect("read errors.js");
    let missing: Vec<&str> = ErrorCode::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|name| !errors.contains(&format!("\n  {name}: \"")))
        .collect();
    assert!(
        missing.is_empty(),
        "errors.js has no sentence for {missing:?}"
    );
}

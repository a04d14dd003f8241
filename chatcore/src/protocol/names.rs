//! What makes a user, room, file or device name acceptable.

use super::limits;

/// Whether `name` is a valid username (and room name): 3 to 32 ASCII letters,
/// digits, `_`, `-` or `.`.
pub fn is_valid_name(name: &str) -> bool {
    (limits::MIN_USERNAME_LEN..=limits::MAX_USERNAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether `name` is a safe file name: not empty, at most
/// [`limits::MAX_FILE_NAME_LEN`] bytes, no path separators, not `.` or `..`, no
/// control characters, line or paragraph separators, and no format characters
/// (bidi overrides and isolates, zero-width spaces, ...: they make
/// `"photo\u{202E}gpj.exe"` read as `"photoexe.jpg"`), except the zero-width
/// joiner that emoji sequences use.
pub fn is_valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= limits::MAX_FILE_NAME_LEN
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', ':'])
        && !name.chars().any(is_unsafe_in_a_name)
}

/// Whether `name` is a device name: 1 to [`limits::MAX_DEVICE_NAME_LEN`]
/// bytes, no control or format characters.
pub fn is_valid_device_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= limits::MAX_DEVICE_NAME_LEN
        && !name.chars().any(is_unsafe_in_a_name)
}

fn is_unsafe_in_a_name(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    const ZERO_WIDTH_JOINER: char = '\u{200D}';
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        ) && c != ZERO_WIDTH_JOINER
}

#[cfg(test)]
mod tests {
    use super::is_valid_file_name;

    #[test]
    fn file_names_may_hold_any_script_and_emoji_but_no_spoofing_characters() {
        for ok in [
            "report.pdf",
            "фото.jpg",
            "写真 1.png",
            "👨\u{200D}👩\u{200D}👧 family.jpg",
        ] {
            assert!(is_valid_file_name(ok), "{ok:?}");
        }
        for bad in [
            "photo\u{202E}gpj.exe",
            "\u{FEFF}bom.txt",
            "soft\u{AD}hyphen",
            "tab\t.txt",
        ] {
            assert!(!is_valid_file_name(bad), "{bad:?}");
        }
    }
}

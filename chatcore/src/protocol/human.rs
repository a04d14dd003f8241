//! How byte fields look in human-readable formats (the JSON subprotocol of
//! the WebSocket transport), without changing their postcard bytes.
//!
//! Each helper checks [`Serializer::is_human_readable`]: postcard (which is not)
//! gets exactly what the field's own `Serialize`/`Deserialize` would give, so the
//! wire bytes pinned by the golden tests stay as they are; JSON gets a string.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Bulk bytes (file chunks): standard base64 with padding in JSON.
pub(crate) mod base64_bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &Vec<u8>, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&STANDARD.encode(bytes))
        } else {
            bytes.serialize(s)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(Base64Visitor)
        } else {
            Vec::<u8>::deserialize(d)
        }
    }

    struct Base64Visitor;

    impl Visitor<'_> for Base64Visitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a base64 string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            STANDARD
                .decode(v)
                .map_err(|e| E::custom(format_args!("invalid base64: {e}")))
        }
    }
}

/// A SHA-256 digest: 64 lowercase hex digits in JSON (what `sha256sum`
/// prints); uppercase is accepted too.
pub(crate) mod hex_sha256 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(digest: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(digest))
        } else {
            digest.serialize(s)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(HexVisitor)
        } else {
            <[u8; 32]>::deserialize(d)
        }
    }

    struct HexVisitor;

    impl Visitor<'_> for HexVisitor {
        type Value = [u8; 32];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("64 hex digits")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<[u8; 32], E> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(v, &mut out)
                .map_err(|e| E::custom(format_args!("invalid SHA-256 hex: {e}")))?;
            Ok(out)
        }
    }
}

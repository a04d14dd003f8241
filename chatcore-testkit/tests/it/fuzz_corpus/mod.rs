//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through
//! the same checks the cargo-fuzz targets run (`chatcore_testkit`), so CI
//! exercises the corpora on stable without the fuzzer.
//!
//! The hand-written seeds come from `write_seed_corpus` below (the seeds
//! themselves are in `frame_seeds` and `session_seeds`):
//!
//! ```text
//! cargo test -p chatcore-testkit --test it fuzz_corpus -- --ignored write_seed_corpus
//! ```

mod frame_seeds;
mod session_seeds;

use std::path::{Path, PathBuf};

use chatcore_testkit::{check_frame_bytes, check_session_bytes, encode_script, Script};

use frame_seeds::frame_seeds;
use session_seeds::session_seeds;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

/// The files of one target's corpus, sorted.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    for path in corpus(target) {
        let data = std::fs::read(&path).expect("a readable corpus file");
        // A failing file is named in the panic message's backtrace context.
        eprintln!("replaying {}", path.display());
        check(&data);
    }
}

#[test]
fn every_corpus_has_a_replay() {
    let mut targets: Vec<String> = std::fs::read_dir(corpus_root())
        .expect("fuzz/corpus exists")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.into_string().expect("a UTF-8 target name"))
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        ["frame_decoder", "session"],
        "a corpus without a replay"
    );
}

#[test]
fn frame_decoder_corpus() {
    replay("frame_decoder", check_frame_bytes);
}

#[test]
fn session_corpus() {
    replay("session", check_session_bytes);
}

#[test]
fn scripts_round_trip() {
    for (name, flags, steps) in session_seeds() {
        let bytes = encode_script(flags, &steps);
        let script = Script::decode(&bytes);
        assert_eq!(script.flags, flags, "{name}");
        assert_eq!(script.steps, steps, "{name}");
    }
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// Writes the hand-written seeds into `fuzz/corpus/` (next to whatever the
/// fuzzer added).
#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_seed_corpus() {
    let frames = corpus_root().join("frame_decoder");
    std::fs::create_dir_all(&frames).unwrap();
    for (name, bytes) in frame_seeds() {
        check_frame_bytes(&bytes);
        std::fs::write(frames.join(format!("seed-{name}")), bytes).unwrap();
    }
    let sessions = corpus_root().join("session");
    std::fs::create_dir_all(&sessions).unwrap();
    for (name, flags, steps) in session_seeds() {
        let bytes = encode_script(flags, &steps);
        check_session_bytes(&bytes);
        std::fs::write(sessions.join(format!("seed-{name}")), bytes).unwrap();
    }
}

pub(super) fn s(text: &str) -> String {
    text.to_owned()
}

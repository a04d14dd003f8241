//! File transfer for `sendfile` and `download`: streamed from and to disk one
//! chunk at a time (a file is never whole in memory), SHA-256 computed on the
//! way, with an optional progress bar.

use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chatcore::client::{Client, ClientError};
use chatcore::protocol::{is_valid_file_name, limits, ErrorCode, Peer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The client library failed (a refusal, a lost connection, …).
    Client(ClientError),
    /// Something on this side failed: a file that cannot be read or written,
    /// a download that does not match its checksum, an unknown file id.
    Local {
        /// A stable snake_case code (`io_error`, `checksum_mismatch`, …).
        code: &'static str,
        /// A sentence for humans.
        message: String,
    },
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl Failure {
    /// A local failure.
    pub fn local(code: &'static str, message: impl Into<String>) -> Failure {
        Failure::Local {
            code,
            message: message.into(),
        }
    }

    fn io(what: &str, path: &Path, e: std::io::Error) -> Failure {
        Failure::local("io_error", format!("cannot {what} {}: {e}", path.display()))
    }
}

/// What the client knows of a file before downloading it: enough to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// The file's name (used when the target is a directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// What `sendfile` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The file id.
    pub id: u64,
    /// The name it was sent under.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// What `download` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Where the file is now.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of what was written, lower-case hex (equal to the expected one).
    pub sha256: String,
}

/// A progress bar for a transfer, or nothing (`--json`, or stdout is not a
/// terminal). Cheap to clone; clones share the bar.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// No progress shown.
    pub fn none() -> Progress {
        Progress { bar: None }
    }

    /// A bar drawn on stdout once the transfer starts (indicatif draws only if
    /// stdout is a terminal).
    pub fn stdout() -> Progress {
        Progress {
            bar: Some(ProgressBar::with_draw_target(
                Some(0),
                ProgressDrawTarget::hidden(),
            )),
        }
    }

    fn start(&self, verb: &str, name: &str, len: u64) {
        if let Some(bar) = &self.bar {
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_length(len);
            bar.set_position(0);
            bar.set_message(format!("{verb} {name}"));
            bar.set_draw_target(ProgressDrawTarget::stdout());
        }
    }

    fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Removes the bar from the screen.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Runs `print` with the bar off the screen (it is drawn again after).
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

/// Retries `call` while the server answers `rate_limited` (the request was not
/// carried out), backing off; a big transfer is many requests.
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut wait = Duration::from_millis(25);
    let mut tries = 0;
    loop {
        match call().await {
            Err(ClientError::Refused(ErrorCode::RateLimited)) if tries < 30 => {
                tries += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// Size and SHA-256 of a file, read in small pieces.
fn hash_file(path: &Path) -> Result<(u64, [u8; 32]), Failure> {
    let mut file = std::fs::File::open(path).map_err(|e| Failure::io("read", path, e))?;
    let meta = file.metadata().map_err(|e| Failure::io("read", path, e))?;
    if !meta.is_file() {
        return Err(Failure::local(
            "io_error",
            format!("cannot send {}: not a regular file", path.display()),
        ));
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::io("read", path, e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

/// The name a file is sent under: the last component of its path.
pub fn send_name(path: &Path) -> Result<String, Failure> {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Failure::local(
                "invalid_file_name",
                format!("{} does not end in a file name", path.display()),
            )
        })
}

/// `sendfile`: hashes the file, offers it, uploads it in the server's chunk
/// size, and completes it.
pub async fn send_file(
    client: &Client,
    to: Peer,
    path: &Path,
    progress: &Progress,
) -> Result<Uploaded, Failure> {
    let name = send_name(path)?;
    let owned = path.to_path_buf();
    let (size, sha256) = tokio::task::spawn_blocking(move || hash_file(&owned))
        .await
        .map_err(|e| Failure::local("io_error", format!("hashing failed: {e}")))??;
    let (file, chunk_size) = client.offer_file(to, &name, size, sha256).await?;
    if chunk_size == 0 {
        return Err(ClientError::Unexpected("a chunk size of 0".into()).into());
    }
    progress.start("sending", &name, size);
    let uploaded = upload(client, file, chunk_size, path, size, progress).await;
    if let Err(e) = uploaded {
        // Completing a partial upload fails verification, which makes the
        // server delete it now rather than when the connection ends.
        if matches!(e, Failure::Local { .. }) {
            let _ = client.complete_file(file).await;
        }
        return Err(e);
    }
    patiently(|| client.complete_file(file)).await?;
    Ok(Uploaded {
        id: file,
        name,
        size,
        sha256: hex::encode(sha256),
    })
}

async fn upload(
    client: &Client,
    file: u64,
    chunk_size: u32,
    path: &Path,
    size: u64,
    progress: &Progress,
) -> Result<(), Failure> {
    let mut source = tokio::fs::File::open(path)
        .await
        .map_err(|e| Failure::io("read", path, e))?;
    let mut buf = vec![0u8; chunk_size as usize];
    let mut offset = 0u64;
    while offset < size {
        let len = u64::from(chunk_size).min(size - offset) as usize;
        source.read_exact(&mut buf[..len]).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Failure::local(
                    "io_error",
                    format!("{} changed while it was sent", path.display()),
                )
            } else {
                Failure::io("read", path, e)
            }
        })?;
        let chunk = &buf[..len];
        patiently(|| client.upload_chunk(file, offset, chunk.to_vec())).await?;
        offset += len as u64;
        progress.inc(len as u64);
    }
    Ok(())
}

/// Where `download` writes: `path`, or `path/NAME` if `path` is a directory.
fn target_path(path: &Path, name: &str) -> Result<PathBuf, Failure> {
    if path.is_dir() {
        if !is_valid_file_name(name) {
            return Err(Failure::local(
                "invalid_file_name",
                format!("the file's name {name:?} is not a plain file name"),
            ));
        }
        Ok(path.join(name))
    } else {
        Ok(path.to_path_buf())
    }
}

/// `download`: streams the file into a temporary file next to the target,
/// checks size and SHA-256 against `facts`, and renames it into place. On any
/// failure the temporary file is removed and the target is left alone.
pub async fn download(
    client: &Client,
    id: u64,
    facts: &FileFacts,
    path: &Path,
    progress: &Progress,
) -> Result<Saved, Failure> {
    let target = target_path(path, &facts.name)?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = send_name(&target)?;
    let temp = dir.join(format!(".{base}.{:016x}.part", rand::random::<u64>()));
    let written = fetch(client, id, facts, &temp, progress).await;
    let result = match written {
        Ok(sha256) => tokio::fs::rename(&temp, &target)
            .await
            .map(|()| Saved {
                path: target.clone(),
                size: facts.size,
                sha256,
            })
            .map_err(|e| Failure::io("write", &target, e)),
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    result
}

/// Writes file `id` to `temp`; returns its verified SHA-256 in hex.
async fn fetch(
    client: &Client,
    id: u64,
    facts: &FileFacts,
    temp: &Path,
    progress: &Progress,
) -> Result<String, Failure> {
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .await
        .map_err(|e| Failure::io("create", temp, e))?;
    progress.start("receiving", &facts.name, facts.size);
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    while offset < facts.size {
        let bytes = patiently(|| client.download_chunk(id, offset, limits::FILE_CHUNK)).await?;
        if bytes.is_empty() {
            break;
        }
        hasher.update(&bytes);
        out.write_all(&bytes)
            .await
            .map_err(|e| Failure::io("write", temp, e))?;
        offset += bytes.len() as u64;
        progress.inc(bytes.len() as u64);
    }
    out.flush()
        .await
        .map_err(|e| Failure::io("write", temp, e))?;
    out.sync_all()
        .await
        .map_err(|e| Failure::io("write", temp, e))?;
    drop(out);
    let sha256 = hex::encode(hasher.finalize());
    if offset != facts.size || !sha256.eq_ignore_ascii_case(&facts.sha256) {
        return Err(Failure::local(
            "checksum_mismatch",
            format!(
                "the download does not match the file's size and sha-256 \
                 ({offset} of {} bytes); nothing was saved",
                facts.size
            ),
        ));
    }
    Ok(sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_sent_under_their_last_path_component() {
        assert_eq!(
            send_name(Path::new("../x/secret.txt")).unwrap(),
            "secret.txt"
        );
        assert_eq!(send_name(Path::new("/tmp/a b.pdf")).unwrap(), "a b.pdf");
        assert_eq!(send_name(Path::new("plain")).unwrap(), "plain");
        for bad in ["..", "/", "x/.."] {
            match send_name(Path::new(bad)) {
                Err(Failure::Local { code, .. }) => assert_eq!(code, "invalid_file_name"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn hashing_streams_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (size, sha) = hash_file(&path).unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&data)));
        assert!(matches!(
            hash_file(dir.path()),
            Err(Failure::Local {
                code: "io_error",
                ..
            })
        ));
        assert!(matches!(
            hash_file(&dir.path().join("missing")),
            Err(Failure::Local {
                code: "io_error",
                ..
            })
        ));
    }
}

//! Which device `chat-client` logs in as (`--device NAME`), and the small state
//! file that keeps the ids the server issued, so the same device logs in under
//! the same id next time.
//!
//! The file (`chatcore/devices.json` under `$XDG_CONFIG_HOME`, or under
//! `~/.config`, unless `--device-file` names another) is a JSON list of
//! `{"server", "user", "name", "id"}`, read and written with `tokio::fs` (off
//! the runtime's thread).

use std::path::{Path, PathBuf};

use chatcore::protocol::{DeviceClaim, DeviceId};
use serde::{Deserialize, Serialize};

use super::transfer::Failure;

/// The device to log in as, and where its id is kept.
#[derive(Debug, Clone)]
pub struct DeviceSettings {
    /// The device's name (`--device`).
    pub name: String,
    /// The state file.
    pub file: PathBuf,
    /// The server address, part of the key: one name may be a device on
    /// several servers.
    pub server: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    server: String,
    user: String,
    name: String,
    id: DeviceId,
}

/// The default state file, if a config directory can be found.
pub fn default_file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(config.join("chatcore").join("devices.json"))
}

impl DeviceSettings {
    /// How `user` logs in as this device: under the id kept for it, or as a
    /// new device.
    pub async fn claim(&self, user: &str) -> Result<DeviceClaim, Failure> {
        let kept = self
            .entries()
            .await?
            .into_iter()
            .find(|e| self.is_this(e, user));
        Ok(match kept {
            Some(entry) => DeviceClaim::Known { id: entry.id },
            None => DeviceClaim::New {
                name: self.name.clone(),
            },
        })
    }

    /// Keeps the id the server issued this device for `user`.
    pub async fn keep(&self, user: &str, id: DeviceId) -> Result<(), Failure> {
        let mut entries = self.entries().await?;
        entries.retain(|e| !self.is_this(e, user));
        entries.push(Entry {
            server: self.server.clone(),
            user: user.to_lowercase(),
            name: self.name.clone(),
            id,
        });
        self.write(&entries).await
    }

    /// Forgets the id kept for `user` (the server revoked it): the next login
    /// is a new device.
    pub async fn forget(&self, user: &str) -> Result<(), Failure> {
        let mut entries = self.entries().await?;
        entries.retain(|e| !self.is_this(e, user));
        self.write(&entries).await
    }

    async fn write(&self, entries: &[Entry]) -> Result<(), Failure> {
        let json = serde_json::to_vec_pretty(&entries).expect("entries serialize");
        if let Some(dir) = self.file.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| self.io_error(&e))?;
        }
        // Written aside and renamed: a crash never leaves half a file.
        let aside = self.file.with_extension("json.new");
        tokio::fs::write(&aside, json)
            .await
            .map_err(|e| self.io_error(&e))?;
        tokio::fs::rename(&aside, &self.file)
            .await
            .map_err(|e| self.io_error(&e))
    }

    fn is_this(&self, entry: &Entry, user: &str) -> bool {
        entry.server == self.server && entry.user == user.to_lowercase() && entry.name == self.name
    }

    async fn entries(&self) -> Result<Vec<Entry>, Failure> {
        match tokio::fs::read(&self.file).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Failure::local(
                    "bad_device_file",
                    format!("{} is not a device file: {e}", self.file.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io_error(&e)),
        }
    }

    fn io_error(&self, e: &std::io::Error) -> Failure {
        Failure::local("io_error", format!("{}: {e}", self.file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kept_id_is_found_again_by_server_user_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let settings = |name: &str, server: &str| DeviceSettings {
            name: name.into(),
            file: dir.path().join("sub").join("devices.json"),
            server: server.into(),
        };
        let laptop = settings("laptop", "127.0.0.1:7878");
        let new = DeviceClaim::New {
            name: "laptop".into(),
        };
        assert_eq!(laptop.claim("ann").await.unwrap(), new);
        laptop.keep("Ann", 12).await.unwrap();
        assert_eq!(
            laptop.claim("ann").await.unwrap(),
            DeviceClaim::Known { id: 12 }
        );
        laptop.keep("ann", 13).await.unwrap();
        assert_eq!(
            laptop.claim("ANN").await.unwrap(),
            DeviceClaim::Known { id: 13 }
        );
        laptop.forget("ann").await.unwrap();
        assert_eq!(laptop.claim("ann").await.unwrap(), new, "forgotten");
        laptop.keep("ann", 14).await.unwrap();
        assert_eq!(laptop.claim("bob").await.unwrap(), new, "another user");
        let elsewhere = settings("laptop", "10.0.0.1:7878");
        assert_eq!(elsewhere.claim("ann").await.unwrap(), new, "another server");
        let phone = settings("phone", "127.0.0.1:7878");
        assert!(matches!(
            phone.claim("ann").await.unwrap(),
            DeviceClaim::New { .. }
        ));
    }

    #[tokio::test]
    async fn a_damaged_file_is_an_error_not_a_new_device() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("devices.json");
        std::fs::write(&file, b"{not json").unwrap();
        let settings = DeviceSettings {
            name: "laptop".into(),
            file,
            server: "s".into(),
        };
        assert!(matches!(
            settings.claim("ann").await,
            Err(Failure::Local {
                code: "bad_device_file",
                ..
            })
        ));
    }
}

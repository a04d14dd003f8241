//! The server's settings, and the check that refuses nonsense among them.

use std::time::Duration;

use crate::auth::HashParams;
use crate::protocol::{limits, DEFAULT_MAX_FRAME_LEN};

/// What happens when a user logs in while already logged in elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateLogin {
    /// Keep every session; all of them get the user's events.
    #[default]
    Allow,
    /// The new session replaces the old ones, which get `Kicked` and close.
    ReplaceOld,
}

/// Server settings. `Default` is a sensible production setup.
///
/// New settings may be added in any release, so the struct cannot be built
/// with a literal outside this crate: start from the default and change what
/// you need. [`Server::new`](super::Server::new) refuses nonsense with a
/// [`ConfigError`] (see [`validate`](Self::validate)).
///
/// ```
/// use chatcore::engine::ServerConfig;
///
/// let mut config = ServerConfig::default();
/// config.open_chat = true;
/// config.request_rate = 20.0;
/// assert!(config.validate().is_ok());
///
/// config.outbound_queue = 0;
/// assert!(config.validate().is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Name sent in the server hello.
    pub server_name: String,
    /// Duplicate-login policy.
    pub duplicate_login: DuplicateLogin,
    /// Allow chat between users who are not friends.
    pub open_chat: bool,
    /// Most open outgoing friend requests per user.
    pub max_pending_requests: usize,
    /// argon2id cost.
    pub hash_params: HashParams,
    /// Most password hashes computed at once (at least one).
    pub hash_concurrency: usize,
    /// Frames queued for one session before it counts as a slow reader and is closed.
    pub outbound_queue: usize,
    /// Stream items read per page when pushing the login backlog.
    pub backlog_page: usize,
    /// Most connections served at once; one more is told `TooManyConnections`
    /// and closed.
    pub max_connections: usize,
    /// A connection that has not said hello by then is told `Timeout` and closed.
    pub hello_timeout: Duration,
    /// Largest file accepted for transfer, in bytes.
    pub max_file_size: u64,
    /// Upload chunk size. A chunk's request must fit in a frame: at most
    /// [`max_frame_len`](Self::max_frame_len) less
    /// [`CHUNK_FRAME_OVERHEAD`](crate::protocol::limits::CHUNK_FRAME_OVERHEAD).
    pub file_chunk_size: u32,
    /// The largest frame the server's transports carry (what they were built
    /// with; [`DEFAULT_MAX_FRAME_LEN`] by default), which file chunks must fit.
    pub max_frame_len: usize,
    /// A connection that sends nothing for this long is told `Timeout` and closed.
    pub idle_timeout: Duration,
    /// How often the server sends `Event::Ping` (clients answer with a ping).
    pub ping_interval: Duration,
    /// Sustained requests per second per connection; more are refused
    /// `RateLimited`.
    pub request_rate: f64,
    /// Requests a connection may send in a burst above the rate.
    pub request_burst: u32,
    /// Sustained acknowledged ids per second per connection (in `Ack` frames
    /// and `Request::Ack`, which the request rate does not count; a frame
    /// counts at least one). Acks are never refused: past this rate the
    /// connection reads its next frame later. A client owes one id per pushed
    /// event, so this bounds only a client acking what it was never sent.
    pub ack_rate: f64,
    /// Ids a connection may acknowledge in a burst above the ack rate.
    pub ack_burst: u32,
    /// Refusals for rate in a row after which the connection is closed.
    pub max_rate_strikes: u32,
    /// Failed logins for one user name from one peer address within a minute
    /// before further attempts from there are refused `RateLimited` (without
    /// checking the password). Keyed by address too, so that a guesser
    /// elsewhere cannot lock the owner out.
    pub login_failures_per_user: usize,
    /// Failed logins for one user name from all addresses together within a
    /// minute, likewise: the gentler bound on guessing spread over many
    /// addresses. (These windows are the server's own; a store several
    /// servers share counts failures for all of them:
    /// [`Store::failed_logins`](crate::store::Store::failed_logins).)
    pub login_failures_per_user_all_addresses: usize,
    /// Failed logins per peer address within a minute (any names, malformed
    /// ones included), likewise.
    pub login_failures_per_address: usize,
    /// How long a send's idempotency record is kept: a retry with the same
    /// `client_msg_id` within it is answered with the first send's receipt;
    /// after it, records are swept and a retry is stored as a new message.
    pub send_record_retention: Duration,
    /// Bytes of encoded frames queued for one connection beyond which its
    /// reader is slow (as with [`outbound_queue`](Self::outbound_queue) frames):
    /// what a client that stops reading can pin in server memory.
    pub outbound_queue_bytes: usize,
    /// Free disk space, in bytes, below which uploads (file offers and chunks)
    /// are refused `StorageFull` while messages go on, so that one user's
    /// uploads cannot fill the disk under the store's log (which would fail
    /// the store, and stop the server). The store's
    /// [`free_space`](crate::store::Store::free_space) is probed once a
    /// second while the server runs; a store that does not know its free space
    /// is never refused. 0 disables the check. Default 256 MiB.
    pub min_free_disk: u64,
    /// Registrations per peer address within an hour; more are refused
    /// `RegistrationThrottled` (before the password is hashed).
    pub registrations_per_address: usize,
    /// A connection that is not logged in this long after it connected (or
    /// logged out) is told `Timeout` and closed, pings or not. Default 2
    /// minutes (as ejabberd's `negotiation_timeout`): a person at an
    /// interactive client has time to register and log in, and with the cap
    /// per address anonymous connections cannot pile up.
    pub login_timeout: Duration,
    /// Connections served at once from one peer address; one more is told
    /// `TooManyConnections` and closed.
    pub max_connections_per_address: usize,
    /// Rooms one user may own at once; creating one more is refused
    /// `TooManyRooms`.
    pub max_rooms_per_owner: usize,
    /// Files one user may store (offered or complete); an offer beyond is
    /// refused `QuotaExceeded`.
    pub max_files_per_user: u64,
    /// Bytes one user may store, counting each file at its offered size; an
    /// offer beyond is refused `QuotaExceeded`.
    pub max_stored_bytes_per_user: u64,
    /// Uploads one connection may have open (offered, not yet completed); one
    /// more offer is refused `TooManyUploads`.
    pub max_uploads_per_connection: usize,
    /// Friend requests from one user to another within a day (whatever was
    /// blocked, removed or declined in between); more are refused
    /// `TooManyRequestsToUser`.
    pub friend_requests_per_pair: usize,
    /// Devices one user may have at once; a login as one more new device is
    /// refused `TooManyDevices` (the user revokes one first).
    pub max_devices_per_user: usize,
    /// A device unseen for this long no longer holds back its user's stream:
    /// items every other device acked are let go, and when it comes back it is
    /// told it fell behind (`Event::FellBehind`) and catches up from history.
    pub device_inactive_after: Duration,
    /// In a cluster ([`Server::with_bus`](super::Server::with_bus)): how often
    /// this node tells the others it is alive (and how often it looks for
    /// nodes that stopped). Default 1 second. Unused on a single node.
    pub cluster_heartbeat: Duration,
    /// In a cluster: a node unheard for this many heartbeats
    /// ([`cluster_heartbeat`](Self::cluster_heartbeat)) counts as dead, and
    /// its users go offline. Default 3 (so a dead node's users go offline
    /// within 3 to 4 seconds). Unused on a single node.
    pub cluster_missed_heartbeats: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_name: format!("chatcore/{}", env!("CARGO_PKG_VERSION")),
            duplicate_login: DuplicateLogin::Allow,
            open_chat: false,
            max_pending_requests: 100,
            hash_params: HashParams::default(),
            // Half the cores: a login storm must leave room for chat.
            hash_concurrency: std::thread::available_parallelism()
                .map_or(1, |n| (n.get() / 2).max(1)),
            outbound_queue: 4096,
            backlog_page: 256,
            max_connections: 10_000,
            hello_timeout: Duration::from_secs(10),
            max_file_size: limits::DEFAULT_MAX_FILE_SIZE,
            file_chunk_size: limits::FILE_CHUNK,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
            request_rate: 50.0,
            request_burst: 100,
            ack_rate: 10_000.0,
            ack_burst: 10_000,
            max_rate_strikes: 50,
            login_failures_per_user: 5,
            login_failures_per_user_all_addresses: 100,
            login_failures_per_address: 20,
            send_record_retention: Duration::from_secs(7 * 24 * 3600),
            outbound_queue_bytes: 8 << 20,
            min_free_disk: Self::DEFAULT_MIN_FREE_DISK,
            registrations_per_address: 20,
            login_timeout: Duration::from_secs(120),
            max_connections_per_address: 64,
            max_rooms_per_owner: 100,
            max_files_per_user: 1000,
            max_stored_bytes_per_user: 1 << 30,
            max_uploads_per_connection: 8,
            friend_requests_per_pair: 5,
            max_devices_per_user: 20,
            device_inactive_after: Duration::from_secs(30 * 24 * 3600),
            cluster_heartbeat: Duration::from_secs(1),
            cluster_missed_heartbeats: 3,
        }
    }
}

/// A [`ServerConfig`] setting that makes no sense; [`Server::new`](super::Server::new)
/// refuses it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count, size or duration that must be positive is zero.
    #[error("{field} must not be zero")]
    Zero {
        /// The setting.
        field: &'static str,
    },
    /// A rate that must be a positive, finite number is not.
    #[error("{field} must be a positive number, not {value}")]
    NotPositive {
        /// The setting.
        field: &'static str,
        /// What it was set to.
        value: f64,
    },
    /// The server would ping less often than it times out idle clients, so a
    /// client that only answers pings would be closed.
    #[error(
        "ping_interval ({ping_interval:?}) must be shorter than idle_timeout ({idle_timeout:?})"
    )]
    PingNotBeforeIdle {
        /// The heartbeat interval.
        ping_interval: Duration,
        /// The idle timeout.
        idle_timeout: Duration,
    },
    /// An upload chunk's request would not fit in a frame.
    #[error("file_chunk_size ({chunk}) plus {overhead} bytes of request must fit in max_frame_len ({max_frame_len})", overhead = limits::CHUNK_FRAME_OVERHEAD)]
    ChunkOverFrame {
        /// The chunk size.
        chunk: u32,
        /// The frame limit.
        max_frame_len: usize,
    },
}

impl ServerConfig {
    /// The default [`min_free_disk`](Self::min_free_disk): 256 MiB.
    pub const DEFAULT_MIN_FREE_DISK: u64 = 256 << 20;

    /// Checks that the settings make sense together: every queue, page, cap,
    /// quota, timeout and rate positive, pings before the idle timeout, and a file
    /// chunk's request within the frame limit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let counts = [
            ("max_pending_requests", self.max_pending_requests),
            ("hash_concurrency", self.hash_concurrency),
            ("outbound_queue", self.outbound_queue),
            ("outbound_queue_bytes", self.outbound_queue_bytes),
            ("max_devices_per_user", self.max_devices_per_user),
            ("backlog_page", self.backlog_page),
            ("max_connections", self.max_connections),
            ("file_chunk_size", self.file_chunk_size as usize),
            ("request_burst", self.request_burst as usize),
            ("ack_burst", self.ack_burst as usize),
            ("max_rate_strikes", self.max_rate_strikes as usize),
            ("login_failures_per_user", self.login_failures_per_user),
            (
                "login_failures_per_user_all_addresses",
                self.login_failures_per_user_all_addresses,
            ),
            (
                "login_failures_per_address",
                self.login_failures_per_address,
            ),
            ("registrations_per_address", self.registrations_per_address),
            (
                "max_connections_per_address",
                self.max_connections_per_address,
            ),
            ("max_rooms_per_owner", self.max_rooms_per_owner),
            (
                "max_uploads_per_connection",
                self.max_uploads_per_connection,
            ),
            ("friend_requests_per_pair", self.friend_requests_per_pair),
            (
                "cluster_missed_heartbeats",
                self.cluster_missed_heartbeats as usize,
            ),
        ];
        let quotas = [
            ("max_files_per_user", self.max_files_per_user),
            ("max_stored_bytes_per_user", self.max_stored_bytes_per_user),
        ];
        let durations = [
            ("hello_timeout", self.hello_timeout),
            ("idle_timeout", self.idle_timeout),
            ("ping_interval", self.ping_interval),
            ("send_record_retention", self.send_record_retention),
            ("login_timeout", self.login_timeout),
            ("device_inactive_after", self.device_inactive_after),
            ("cluster_heartbeat", self.cluster_heartbeat),
        ];
        let zero = counts
            .iter()
            .find(|(_, n)| *n == 0)
            .map(|(field, _)| field)
            .or_else(|| quotas.iter().find(|(_, n)| *n == 0).map(|(f, _)| f))
            .or_else(|| durations.iter().find(|(_, d)| d.is_zero()).map(|(f, _)| f));
        if let Some(&field) = zero {
            return Err(ConfigError::Zero { field });
        }
        for (field, value) in [
            ("request_rate", self.request_rate),
            ("ack_rate", self.ack_rate),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::NotPositive { field, value });
            }
        }
        if self.ping_interval >= self.idle_timeout {
            return Err(ConfigError::PingNotBeforeIdle {
                ping_interval: self.ping_interval,
                idle_timeout: self.idle_timeout,
            });
        }
        let chunk_frame =
            (self.file_chunk_size as usize).saturating_add(limits::CHUNK_FRAME_OVERHEAD);
        if chunk_frame > self.max_frame_len {
            return Err(ConfigError::ChunkOverFrame {
                chunk: self.file_chunk_size,
                max_frame_len: self.max_frame_len,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        ServerConfig::default().validate().unwrap();
    }

    #[test]
    fn nonsense_is_refused_with_what_is_wrong() {
        let refused = |change: &dyn Fn(&mut ServerConfig)| {
            let mut config = ServerConfig::default();
            change(&mut config);
            config.validate().unwrap_err()
        };
        assert_eq!(
            refused(&|c| c.outbound_queue = 0),
            ConfigError::Zero {
                field: "outbound_queue"
            }
        );
        assert_eq!(
            refused(&|c| c.max_stored_bytes_per_user = 0),
            ConfigError::Zero {
                field: "max_stored_bytes_per_user"
            }
        );
        assert_eq!(
            refused(&|c| c.login_timeout = Duration::ZERO),
            ConfigError::Zero {
                field: "login_timeout"
            }
        );
        assert_eq!(
            refused(&|c| c.idle_timeout = Duration::ZERO),
            ConfigError::Zero {
                field: "idle_timeout"
            }
        );
        assert!(matches!(
            refused(&|c| c.request_rate = -1.0),
            ConfigError::NotPositive {
                field: "request_rate",
                ..
            }
        ));
        assert!(matches!(
            refused(&|c| c.request_rate = f64::NAN),
            ConfigError::NotPositive {
                field: "request_rate",
                ..
            }
        ));
        assert!(matches!(
            refused(&|c| c.ping_interval = c.idle_timeout),
            ConfigError::PingNotBeforeIdle { .. }
        ));
        assert!(matches!(
            refused(&|c| c.file_chunk_size = c.max_frame_len as u32),
            ConfigError::ChunkOverFrame { .. }
        ));
        let message = refused(&|c| c.max_frame_len = 4096).to_string();
        assert!(message.contains("file_chunk_size"), "{message}");
    }

    #[test]
    fn a_chunk_that_fits_a_small_frame_is_fine() {
        let config = ServerConfig {
            max_frame_len: 4096,
            file_chunk_size: (4096 - limits::CHUNK_FRAME_OVERHEAD) as u32,
            ..ServerConfig::default()
        };
        config.validate().unwrap();
    }
}

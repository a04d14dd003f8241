//! [`ClientConfig`]: the client's settings, and the check that refuses
//! nonsense among them.

/// Client settings.
///
/// New settings may be added in any release, so the struct cannot be built
/// with a literal outside this crate: start from the default and change what
/// you need. [`Client::connect_with`](super::Client::connect_with) refuses nonsense with a [`ConfigError`].
///
/// ```
/// use chatcore::client::ClientConfig;
///
/// let mut config = ClientConfig::default();
/// config.ack_delay = std::time::Duration::ZERO;
/// assert!(config.validate().is_ok());
///
/// config.client_name = "line\nbreak".into();
/// assert!(config.validate().is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Sent in the hello.
    pub client_name: String,
    /// Acknowledge inbox events once they are handed to [`Events`](super::Events) (an event
    /// that cannot be handed over, because `Events` was dropped, is never
    /// acked). The server deletes an acked item and tells its sender it was
    /// delivered, so an application that must not lose a message between
    /// receiving and processing it (a crash before it is stored or shown)
    /// turns this off and acks each item itself with [`Client::ack`](super::Client::ack) once it
    /// is done with it: the explicit-ack mode. Unacked items come again at
    /// the next login.
    pub auto_ack: bool,
    /// How long automatic acks wait for more to go out with them. Zero sends
    /// them as soon as the driver has nothing else to do. Any request sends
    /// the waiting ones first.
    pub ack_delay: std::time::Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_name: format!("chatcore-client/{}", env!("CARGO_PKG_VERSION")),
            auto_ack: true,
            ack_delay: DEFAULT_ACK_DELAY,
        }
    }
}

/// [`ClientConfig::ack_delay`]'s default: short beside a person's reading, long
/// enough that a busy chat's acks go out several at a time.
pub const DEFAULT_ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(5);

/// The longest [`ClientConfig::client_name`], in bytes (it goes into the
/// server's logs).
pub const MAX_CLIENT_NAME_LEN: usize = 128;

/// A [`ClientConfig`] setting that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `client_name` is over [`MAX_CLIENT_NAME_LEN`] bytes or holds control
    /// characters.
    #[error("client_name must be at most {MAX_CLIENT_NAME_LEN} bytes, without control characters")]
    BadClientName,
    /// A [`Reconnecting`](super::Reconnecting) client was given no address.
    #[error("no server address to connect to")]
    NoAddresses,
}

impl ClientConfig {
    /// Checks the settings: a `client_name` of at most [`MAX_CLIENT_NAME_LEN`]
    /// bytes without control characters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.client_name.len() > MAX_CLIENT_NAME_LEN
            || self.client_name.chars().any(char::is_control)
        {
            return Err(ConfigError::BadClientName);
        }
        Ok(())
    }
}

//! The stable, documented error codes carried by `Err` responses and `Closing` events.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $snake:literal, $msg:literal; )*) => {
        /// Why a request was refused or a connection closed.
        ///
        /// The codes are part of the wire format: postcard encodes them by position, so
        /// new codes are only ever appended. [`ErrorCode::as_str`] gives a stable
        /// snake_case name for scripts and logs (and the code's form in JSON);
        /// [`ErrorCode::message`] a human sentence.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* #[serde(rename = $snake)] $name, )*
        }

        impl ErrorCode {
            /// Every code, in wire order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The stable snake_case name, e.g. `"invalid_credentials"`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $snake,)* }
            }

            /// A sentence for humans.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$name => $msg,)* }
            }
        }
    };
}

error_codes! {
    /// The first frame was not a hello, or a second hello arrived, or a frame made no
    /// sense in this state.
    ProtocolViolation = "protocol_violation", "the client broke the protocol";
    /// The hello named a protocol version this server does not speak.
    UnsupportedVersion = "unsupported_version", "unsupported protocol version";
    /// A frame was longer than the configured maximum.
    FrameTooLarge = "frame_too_large", "frame exceeds the maximum frame size";
    /// A frame could not be decoded.
    MalformedFrame = "malformed_frame", "frame could not be decoded";
    /// The request needs a logged-in session.
    NotAuthenticated = "not_authenticated", "log in first";
    /// The session is already logged in (log out first).
    AlreadyAuthenticated = "already_authenticated", "already logged in";
    /// Unknown user or wrong password (deliberately indistinguishable).
    InvalidCredentials = "invalid_credentials", "wrong username or password";
    /// The username is taken (compared without regard to case).
    UsernameTaken = "username_taken", "that username is taken";
    /// Usernames are 3 to 32 letters, digits, `_`, `-` or `.`.
    InvalidUsername = "invalid_username", "usernames are 3-32 letters, digits, '_', '-' or '.'";
    /// Passwords are 8 to 1024 bytes.
    InvalidPassword = "invalid_password", "passwords are 8-1024 bytes";
    /// No user has that name.
    NoSuchUser = "no_such_user", "no such user";
    /// The two users are already friends.
    AlreadyFriends = "already_friends", "you are already friends";
    /// A friend request to that user is already pending.
    AlreadyRequested = "already_requested", "a friend request is already pending";
    /// There is no pending friend request from that user.
    NoSuchRequest = "no_such_request", "no pending friend request from that user";
    /// The operation needs the two users to be friends.
    NotFriends = "not_friends", "you are not friends";
    /// One side has blocked the other.
    Blocked = "blocked", "blocked";
    /// A user cannot befriend, block or message themself in this way.
    CannotBefriendSelf = "cannot_befriend_self", "you cannot befriend yourself";
    /// Too many outgoing friend requests are still open.
    TooManyPendingRequests = "too_many_pending_requests", "too many open friend requests";
    /// The message body is empty or too long.
    InvalidMessage = "invalid_message", "message is empty or too long";
    /// A requested limit or argument is out of range.
    InvalidArgument = "invalid_argument", "invalid argument";
    /// No room has that name.
    NoSuchRoom = "no_such_room", "no such room";
    /// A room with that name exists.
    RoomExists = "room_exists", "a room with that name exists";
    /// Room names follow the username rules.
    InvalidRoomName = "invalid_room_name", "room names are 3-32 letters, digits, '_', '-' or '.'";
    /// The operation needs room membership.
    NotRoomMember = "not_room_member", "you are not a member of that room";
    /// Only the room's owner may do that.
    NotRoomOwner = "not_room_owner", "only the room owner may do that";
    /// No file has that id (or it is not visible to you).
    NoSuchFile = "no_such_file", "no such file";
    /// The file is larger than the server accepts.
    FileTooLarge = "file_too_large", "file exceeds the size limit";
    /// The file name is empty or not a plain name.
    InvalidFileName = "invalid_file_name", "invalid file name";
    /// The uploaded bytes do not match the offered size or sha-256.
    ChecksumMismatch = "checksum_mismatch", "upload does not match its checksum";
    /// An upload chunk is out of order or out of range.
    BadChunk = "bad_chunk", "chunk out of order or out of range";
    /// Too many requests; slow down.
    RateLimited = "rate_limited", "too many requests";
    /// The server is at its connection limit.
    TooManyConnections = "too_many_connections", "server is at its connection limit";
    /// The peer took too long.
    Timeout = "timeout", "timed out";
    /// The server is shutting down.
    ShuttingDown = "shutting_down", "server is shutting down";
    /// Something failed inside the server (storage); nothing was changed.
    Internal = "internal", "internal server error";
    /// The owner already has as many rooms as the server allows.
    TooManyRooms = "too_many_rooms", "you own as many rooms as allowed";
    /// The user's stored files (count or bytes) would exceed their quota.
    QuotaExceeded = "quota_exceeded", "your file storage quota is used up";
    /// This connection already has as many uploads open as allowed.
    TooManyUploads = "too_many_uploads", "too many uploads in progress";
    /// The server's disk is below its free-space watermark: large writes are refused.
    StorageFull = "storage_full", "the server is low on disk space";
    /// The store cannot take writes right now; retry later.
    Unavailable = "unavailable", "the server's storage is unavailable";
    /// A `client_msg_id` already used for a different message (another target or body).
    ClientMsgIdReused = "client_msg_id_reused", "that client message id was used for a different message";
    /// Too many friend requests to that user lately.
    TooManyRequestsToUser = "too_many_requests_to_user", "too many friend requests to that user lately";
    /// Too many accounts registered from this address lately.
    RegistrationThrottled = "registration_throttled", "too many registrations from this address; try later";
    /// A login named a device that was revoked, or that the server never
    /// issued to this user: log in as a new device.
    UnknownDevice = "unknown_device", "unknown or revoked device; log in as a new device";
    /// This session's device was revoked (the reason a session is closed).
    DeviceRevoked = "device_revoked", "this device was revoked";
    /// The user has as many devices as the server allows: revoke one first.
    TooManyDevices = "too_many_devices", "you have as many devices as allowed; revoke one";
    /// A device name that is empty, too long or holds control characters.
    InvalidDeviceName = "invalid_device_name", "device names are 1-64 bytes without control characters";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ErrorCode {}

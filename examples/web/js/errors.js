// A clear sentence for every chatcore ErrorCode (snake_case names, see
// chatcore::protocol::ErrorCode), plus the page's own failures.

const MESSAGES = {
  protocol_violation: "The page and the server misunderstood each other. Reload the page.",
  unsupported_version: "This server speaks another protocol version than this page. Reload the page.",
  frame_too_large: "That was too big to send in one piece.",
  malformed_frame: "The server could not read what the page sent. Reload the page.",
  not_authenticated: "Please log in first.",
  already_authenticated: "You are already logged in.",
  invalid_credentials: "Wrong username or password.",
  username_taken: "That username is taken. Pick another one.",
  invalid_username: "Usernames are 3 to 32 letters, digits, “_”, “-” or “.”.",
  invalid_password: "Passwords are 8 to 1024 bytes long.",
  no_such_user: "There is no user by that name.",
  already_friends: "You are already friends.",
  already_requested: "A friend request is already waiting for an answer.",
  no_such_request: "That friend request is no longer open.",
  not_friends: "You can only do that with a friend.",
  blocked: "You cannot reach this user.",
  cannot_befriend_self: "You cannot befriend yourself.",
  too_many_pending_requests: "You have too many open friend requests. Wait for some answers first.",
  invalid_message: "Messages must be 1 byte to 16 KiB long.",
  invalid_argument: "The server refused that request as invalid.",
  no_such_room: "There is no room by that name.",
  room_exists: "A room with that name already exists.",
  invalid_room_name: "Room names are 3 to 32 letters, digits, “_”, “-” or “.”.",
  not_room_member: "Join the room first.",
  not_room_owner: "Only the room's owner can do that.",
  no_such_file: "That file is not available (any more).",
  file_too_large: "That file is larger than this server accepts.",
  invalid_file_name: "That file name cannot be used.",
  checksum_mismatch: "The file arrived damaged (its SHA-256 does not match). Try again.",
  bad_chunk: "The upload got out of step. Try again.",
  rate_limited: "You are going too fast. Wait a moment and try again.",
  too_many_connections: "The server is full right now. The page will keep trying.",
  timeout: "The connection timed out.",
  shutting_down: "The server is restarting.",
  internal: "Something went wrong on the server; nothing was changed. Try again.",
  too_many_rooms: "You own as many rooms as allowed.",
  quota_exceeded: "Your file storage is full. Delete some files first.",
  too_many_uploads: "Too many uploads at once. Wait for one to finish.",
  storage_full: "The server is low on disk space, so uploads are paused. Messages still work.",
  unavailable: "The server's storage is unavailable right now. Try again shortly.",
  client_msg_id_reused: "That message clashed with an earlier one. Send it again.",
  too_many_requests_to_user: "You sent this user too many friend requests lately. Try again tomorrow.",
  registration_throttled: "Too many accounts were created from here lately. Try again later.",
  unknown_device: "This browser's device was revoked; it logs in as a new device.",
  device_revoked: "This device was revoked from another one of your devices. Log in again.",
  too_many_devices: "You have as many devices as allowed. Revoke one from another device first.",
  invalid_device_name: "That device name cannot be used.",
  // The page's own.
  unreachable: "Cannot reach the chat server. Check your connection and try again.",
  disconnected: "Not connected to the server. Reconnecting…",
  file_checksum: "The downloaded file does not match its SHA-256, so it was not saved.",
  unexpected_response: "The server gave an answer the page did not expect.",
};

/** The sentence for `code`, or a generic one naming it. */
export function describeError(code) {
  return MESSAGES[code] ?? `The server refused that (${code}).`;
}

/** An Error carrying a chatcore error code. */
export class ChatError extends Error {
  constructor(code) {
    super(describeError(code));
    this.code = code;
  }
}

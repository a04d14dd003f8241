//! Account handlers: register, log in (as a device or not), log out, the
//! end of a session; a user's devices (user search is in `lists`).

use std::sync::Arc;

use super::conn::{internal, now_ms, Conn, Reply};
use super::DuplicateLogin;
use crate::mailbox::Control;
use crate::protocol::{
    is_valid_device_name, is_valid_name, limits, DeviceClaim, DeviceId, DeviceInfo, ErrorCode,
    Response,
};
use crate::store::{DeviceLogin, User};
use crate::sync::StreamSync;

/// The keys of a login attempt's failures in the store
/// ([`Store::failed_logins`](crate::store::Store::failed_logins)), in the
/// order of the bounds they count against: the name from this address, the
/// name from anywhere, and the address if there is one (as the server's own
/// windows).
fn shared_failure_keys(name_key: &str, address: Option<std::net::IpAddr>) -> Vec<String> {
    let from = address.map_or_else(|| "-".to_owned(), |a| a.to_string());
    let mut keys = vec![
        format!("user {name_key} {from}"),
        format!("name {name_key}"),
    ];
    keys.extend(address.map(|a| format!("address {a}")));
    keys
}

/// A login that succeeded.
pub(super) struct LoggedIn {
    pub user: User,
    pub device: DeviceId,
    /// The user just came online.
    pub first: bool,
    /// The device was away so long that items it never got were let go.
    pub fell_behind: bool,
    /// When the device was last seen before (0: a new device).
    pub seen_before: u64,
}

impl Conn {
    /// Registers a user. Everything cheap is checked before the (slow) hash:
    /// the address's throttle, the name and password, and whether the name is
    /// taken (which `UsernameTaken` tells anyone anyway).
    pub(super) async fn register(&self, username: String, password: String) -> Reply {
        let now = std::time::Instant::now();
        let address = self.peer.map(|p| p.ip());
        let throttle = &self.state.registrations_by_address;
        if address.is_some_and(|a| !throttle.allows(&a, now)) {
            tracing::warn!(peer = ?self.peer, "registration throttled for the address");
            return Err(ErrorCode::RegistrationThrottled);
        }
        if !is_valid_name(&username) {
            return Err(ErrorCode::InvalidUsername);
        }
        if !(limits::MIN_PASSWORD_LEN..=limits::MAX_PASSWORD_LEN).contains(&password.len()) {
            return Err(ErrorCode::InvalidPassword);
        }
        let store = &self.state.store;
        if store
            .account_by_name(&username)
            .await
            .map_err(internal)?
            .is_some()
        {
            return Err(ErrorCode::UsernameTaken);
        }
        if let Some(address) = address {
            throttle.fail(address, now);
        }
        let hash = self.state.hasher.hash(password).await.map_err(|e| {
            tracing::error!(error = %e, "hashing failed");
            ErrorCode::Internal
        })?;
        // The name may have been taken while hashing; the store decides.
        match store.create_user(&username, &hash).await {
            Ok(Some(user)) => {
                tracing::info!(user = %user.name, "registered");
                Ok(Response::Done)
            }
            Ok(None) => Err(ErrorCode::UsernameTaken),
            Err(e) => Err(internal(e)),
        }
    }

    /// Checks the credentials, logs in as the device `device` names (none: the
    /// user's default device) and enters the session into the router.
    pub(super) async fn login(
        &mut self,
        username: String,
        password: String,
        device: Option<DeviceClaim>,
    ) -> Result<LoggedIn, ErrorCode> {
        // Throttled before the (slow) hash: guessing costs the guesser, not us.
        let now = std::time::Instant::now();
        let address = self.peer.map(|p| p.ip());
        let state = &self.state;
        if address.is_some_and(|a| !state.failed_logins_by_address.allows(&a, now)) {
            tracing::warn!(peer = ?self.peer, "login throttled for the address");
            return Err(ErrorCode::RateLimited);
        }
        // Malformed credentials are just wrong credentials, refused before they
        // become a key or a log line (a name can be most of a frame).
        if !is_valid_name(&username) || password.len() > limits::MAX_PASSWORD_LEN {
            tracing::info!(peer = ?self.peer, "login with malformed credentials");
            if let Some(address) = address {
                state.failed_logins_by_address.fail(address, now);
            }
            return Err(ErrorCode::InvalidCredentials);
        }
        let name_key = username.to_lowercase();
        let user_key = (name_key.clone(), address);
        if !state.failed_logins_by_user.allows(&user_key, now)
            || !state.failed_logins_by_name.allows(&name_key, now)
        {
            tracing::warn!(%username, peer = ?self.peer, "login throttled");
            return Err(ErrorCode::RateLimited);
        }
        // The store's count, if it keeps one: every server on it the same.
        let shared_keys = shared_failure_keys(&name_key, address);
        let since = now_ms().saturating_sub(super::MINUTE.as_millis() as u64);
        let shared = state
            .store
            .failed_logins(&shared_keys, since)
            .await
            .map_err(internal)?;
        if let Some(counts) = &shared {
            let config = &state.config;
            let bounds = [
                config.login_failures_per_user,
                config.login_failures_per_user_all_addresses,
                config.login_failures_per_address,
            ];
            if counts.iter().zip(bounds).any(|(&n, max)| n as usize >= max) {
                tracing::warn!(%username, peer = ?self.peer, "login throttled (shared count)");
                return Err(ErrorCode::RateLimited);
            }
        }
        let account = state
            .store
            .account_by_name(&username)
            .await
            .map_err(internal)?;
        let hash = account.as_ref().map(|a| a.password_hash.clone());
        let ok = state.hasher.verify(password, hash).await.map_err(|e| {
            tracing::error!(error = %e, "verifying failed");
            ErrorCode::Internal
        })?;
        let Some(account) = account.filter(|_| ok) else {
            tracing::info!(%username, peer = ?self.peer, "login failed");
            state.failed_logins_by_user.fail(user_key, now);
            state.failed_logins_by_name.fail(name_key, now);
            if let Some(address) = address {
                state.failed_logins_by_address.fail(address, now);
            }
            let (at, forget_before) = (now_ms(), since);
            let recorded = state
                .store
                .record_failed_login(&shared_keys, at, forget_before)
                .await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "counting a failed login in the store failed");
            }
            return Err(ErrorCode::InvalidCredentials);
        };
        state.failed_logins_by_user.clear(&user_key);
        // Only when there is something to clear: a login costs no write.
        if shared.is_some_and(|counts| counts.first().is_some_and(|&n| n > 0)) {
            if let Err(e) = state.store.clear_failed_logins(&shared_keys[0]).await {
                tracing::warn!(error = %e, "clearing failed logins in the store failed");
            }
        }
        let user = account.user;
        let login = self.device_login(&user, device).await?;
        let device = login.device.id;
        self.handle.device = Some(device);
        let sync = StreamSync::new(device, self.session.version(), login.position);
        self.handle.sync = Some(Arc::new(sync));
        self.handle.logged_in_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let replace = state.config.duplicate_login == DuplicateLogin::ReplaceOld;
        let registered = state.router.register(user.id, self.handle.clone(), replace);
        for old in registered.replaced {
            old.mailbox
                .stop(Control::Kick("logged in elsewhere".into()));
        }
        if replace {
            state.kick_elsewhere(user.id, self.handle.logged_in_us);
        }
        let first = registered.first && state.presence_changed_here(&user, true);
        self.session.logged_in(user.clone());
        tracing::info!(
            user = %user.name,
            conn_id = self.handle.conn_id,
            device = self.handle.device,
            "logged in"
        );
        Ok(LoggedIn {
            user,
            device,
            first,
            fell_behind: login.fell_behind,
            seen_before: login.seen_before,
        })
    }

    /// The device a login claims, created or seen now.
    async fn device_login(
        &self,
        user: &User,
        claim: Option<DeviceClaim>,
    ) -> Result<DeviceLogin, ErrorCode> {
        if let Some(DeviceClaim::New { name }) = &claim {
            if !is_valid_device_name(name) {
                return Err(ErrorCode::InvalidDeviceName);
            }
        }
        let max = self.state.config.max_devices_per_user;
        self.state
            .store
            .device_login(user.id, claim, max, now_ms())
            .await
            .map_err(internal)?
    }

    /// The user's devices, with which of them are online.
    pub(super) async fn devices(&self) -> Reply {
        let me = self.me();
        let devices = self.state.store.devices(me.id).await.map_err(internal)?;
        let online = self.state.router.online_devices(me.id);
        Ok(Response::Devices(
            devices
                .into_iter()
                .map(|d| DeviceInfo {
                    online: online.contains(&d.id),
                    id: d.id,
                    name: d.name,
                    last_seen: d.last_seen,
                })
                .collect(),
        ))
    }

    /// Revokes one of the user's devices and closes its sessions.
    pub(super) async fn revoke_device(&self, device: DeviceId) -> Reply {
        let me = self.me();
        self.state
            .store
            .revoke_device(me.id, device)
            .await
            .map_err(internal)??;
        tracing::info!(user = %me.name, device, "device revoked");
        self.state.device_revoked(me.id, device);
        Ok(Response::Done)
    }

    /// Logs out: the session leaves the router and its device is seen now.
    pub(super) async fn logout(&mut self) -> Reply {
        if let Some(user) = self.session.logged_out() {
            self.went_away(user).await;
        }
        self.handle.device = None;
        self.handle.sync = None;
        Ok(Response::Done)
    }

    /// Leaves the router; if that was the user's last session, tells their friends.
    pub(super) async fn went_away(&self, user: User) {
        tracing::info!(user = %user.name, conn_id = self.handle.conn_id, "logged out");
        let state = &self.state;
        if state.router.unregister(user.id, self.handle.conn_id)
            && state.presence_changed_here(&user, false)
        {
            state.announce_presence(&user, false).await;
        }
        if let Some(device) = self.handle.device {
            if let Err(e) = self
                .state
                .store
                .device_seen(user.id, device, now_ms())
                .await
            {
                internal(e);
            }
        }
    }

    /// Ends the session: abandons its uploads, leaves the router and, if this
    /// was the user's last session, tells their friends they went offline.
    pub(super) async fn close(&mut self) {
        self.abandon_uploads().await;
        if let Some(user) = self.session.close() {
            self.went_away(user).await;
        }
    }
}

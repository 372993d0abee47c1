//! The keyring: the master key plus every organization's data keys, unwrapped once and kept
//! in memory. All sealing and opening of secrets in jiragate goes through it, so every sealed
//! value is bound to (organization, record id, field, key version).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;
use jiragate_store::{DataKeyRecord, OrgId, Store, StoreError, WebhookSecretKind};
use jiragate_vault::{DataKey, MasterKey, SealContext, SealedSecret, VaultError};
use secrecy::SecretString;

use crate::error::AuthError;

/// Field names used in seal contexts (part of the AAD: renaming one makes old data unreadable).
pub mod fields {
    pub const API_TOKEN: &str = "api_token";
    pub const ACCESS_TOKEN: &str = "access_token";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    pub const CLIENT_SECRET: &str = "client_secret";
    pub const PKCE_VERIFIER: &str = "pkce_verifier";
    /// Tokens parked in a connect session while the user chooses a site.
    pub const PENDING_TOKENS: &str = "pending_tokens";
    /// A webhook subscription's signing secret (sealed for the subscription id).
    pub const WEBHOOK_SIGNING_SECRET: &str = "webhook_signing_secret";
    /// A connection's admin-webhook secret (sealed for the connection id).
    pub const WEBHOOK_RECEIVER_SECRET: &str = "webhook_receiver_secret";
}

/// The data keys of one organization, unwrapped.
struct OrgKeys {
    current: u32,
    keys: BTreeMap<u32, DataKey>,
}

struct Inner {
    store: Store,
    /// The master key this instance holds; replaced when the key file names a newer one.
    master: std::sync::RwLock<MasterKey>,
    /// Where the master key came from, when a file: re-read when a data key is wrapped by a
    /// key this instance does not hold (another process rotated the master key).
    key_file: Option<std::path::PathBuf>,
    /// With `--reencrypt`: the master key being replaced, so new data key versions stay
    /// readable by instances still on it.
    retiring: Option<MasterKey>,
    orgs: DashMap<OrgId, Arc<OrgKeys>>,
    /// Serialises loading/creating data keys inside this process.
    load_lock: tokio::sync::Mutex<()>,
}

/// Store + master key + cached data keys. Cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("master_key_id", &self.master().key_id())
            .field("cached_orgs", &self.inner.orgs.len())
            .finish()
    }
}

/// How often a serving instance reports the master key it holds.
pub const KEY_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// What `master-key retire` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetireReport {
    /// `None`: no previous master key was kept (nothing to retire).
    pub retired_master_key_id: Option<String>,
    /// Data keys whose wrapping by the previous key was dropped.
    pub data_keys_unwrapped: usize,
}

/// What [`Keyring::rotate_master`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RotationReport {
    pub data_keys_rewrapped: usize,
    pub new_data_keys: usize,
    pub secrets_resealed: usize,
}

impl Keyring {
    /// Checks the master key against the database's key-check record, creating the record on
    /// a fresh database. A different key fails with [`AuthError::WrongMasterKey`].
    pub async fn open_or_init(store: Store, master: MasterKey) -> Result<Keyring, AuthError> {
        Self::open_with(store, master, None, None).await
    }

    /// [`Keyring::open_or_init`] for a master key read from `key_file`, which is read again
    /// when a data key turns out to be wrapped by a key this instance does not hold yet.
    pub async fn open_with_key_file(
        store: Store,
        master: MasterKey,
        key_file: Option<std::path::PathBuf>,
    ) -> Result<Keyring, AuthError> {
        Self::open_with(store, master, key_file, None).await
    }

    async fn open_with(
        store: Store,
        master: MasterKey,
        key_file: Option<std::path::PathBuf>,
        retiring: Option<MasterKey>,
    ) -> Result<Keyring, AuthError> {
        let record = match store.get_key_check().await? {
            Some(rec) => rec,
            None => {
                // Insert-if-absent: when two instances initialise at once, whoever lost
                // verifies against the winner's record below.
                store
                    .put_key_check(&master.key_id(), &master.key_check())
                    .await?;
                store
                    .get_key_check()
                    .await?
                    .ok_or(AuthError::WrongMasterKey)?
            }
        };
        // The current key, or the one the last rotation replaced (still accepted until
        // `master-key retire`: an instance restarted with it keeps working).
        let previous_ok = record.previous_master_key_id.as_deref() == Some(&master.key_id())
            && record
                .previous_record
                .as_deref()
                .is_some_and(|r| master.verify_key_check(r).is_ok());
        if !previous_ok {
            master
                .verify_key_check(&record.record)
                .map_err(|_| AuthError::WrongMasterKey)?;
        }
        Ok(Keyring {
            inner: Arc::new(Inner {
                store,
                master: std::sync::RwLock::new(master),
                key_file,
                retiring,
                orgs: DashMap::new(),
                load_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn master_key_id(&self) -> String {
        self.master().key_id()
    }

    fn master(&self) -> MasterKey {
        self.inner
            .master
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the key file again; adopts the key in it when it is `wanted` (the key that wraps
    /// the database's data keys now). `None` when there is no file or it holds another key.
    fn reload_master(&self, wanted: &str) -> Option<MasterKey> {
        let path = self.inner.key_file.as_ref()?;
        let key = MasterKey::from_file(path).ok()?;
        if key.key_id() != wanted {
            return None;
        }
        tracing::info!(
            master_key_id = %key.key_id(),
            file = %path.display(),
            "picked up the rotated master key from its file"
        );
        *self
            .inner
            .master
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = key.clone();
        Some(key)
    }

    /// The data key of one stored version: unwrapped by this instance's master key, by the
    /// previous wrapping while a rotation's grace period runs, or by a rotated key picked up
    /// from the key file.
    fn unwrap_record(&self, rec: &DataKeyRecord, org: &OrgId) -> Result<DataKey, AuthError> {
        let master = self.master();
        let id = master.key_id();
        if rec.wrapped.master_key_id != id {
            if let Some(prev) = rec.previous.as_ref().filter(|p| p.master_key_id == id) {
                return Ok(master.unwrap(prev, org.as_ref(), rec.version)?);
            }
            if let Some(newer) = self.reload_master(&rec.wrapped.master_key_id) {
                return Ok(newer.unwrap(&rec.wrapped, org.as_ref(), rec.version)?);
            }
        }
        Ok(master.unwrap(&rec.wrapped, org.as_ref(), rec.version)?)
    }

    /// Adopts the key in the key file when it is the database's current master key and not
    /// the one held (a rotation by another process). Returns whether the key changed.
    pub async fn pick_up_rotated_key(&self) -> Result<bool, AuthError> {
        let Some(path) = self.inner.key_file.as_ref() else {
            return Ok(false);
        };
        let Ok(key) = MasterKey::from_file(path) else {
            return Ok(false);
        };
        if key.key_id() == self.master_key_id() {
            return Ok(false);
        }
        let Some(check) = self.inner.store.get_key_check().await? else {
            return Ok(false);
        };
        if check.master_key_id != key.key_id() || key.verify_key_check(&check.record).is_err() {
            return Ok(false);
        }
        Ok(self.reload_master(&check.master_key_id).is_some())
    }

    /// A running instance says which master key it holds (`master-key retire` waits for
    /// instances on the previous one); first it adopts a rotated key from its key file.
    pub async fn report_in_use(&self, instance: &str) -> Result<(), AuthError> {
        self.pick_up_rotated_key().await?;
        Ok(self
            .inner
            .store
            .touch_master_key_user(instance, &self.master_key_id())
            .await?)
    }

    /// A stopping instance withdraws its report.
    pub async fn withdraw_report(&self, instance: &str) -> Result<(), AuthError> {
        Ok(self.inner.store.remove_master_key_user(instance).await?)
    }

    /// Seals `secret` for (org, record, field) with the organization's current data key
    /// (created on first use).
    pub async fn seal(
        &self,
        org: &OrgId,
        record_id: &str,
        field: &str,
        secret: &SecretString,
    ) -> Result<SealedSecret, AuthError> {
        let keys = self.org_keys(org, None).await?;
        let key = keys
            .keys
            .get(&keys.current)
            .ok_or(VaultError::UnwrapFailed {
                org_id: org.to_string(),
                version: keys.current,
            })?;
        let ctx = SealContext {
            org_id: org.as_ref(),
            record_id,
            field,
            key_version: keys.current,
        };
        Ok(key.seal(&ctx, secret))
    }

    /// [`Keyring::seal`] returning the stored text form.
    pub async fn seal_str(
        &self,
        org: &OrgId,
        record_id: &str,
        field: &str,
        secret: &SecretString,
    ) -> Result<String, AuthError> {
        Ok(self
            .seal(org, record_id, field, secret)
            .await?
            .into_string())
    }

    /// Opens a sealed secret with the data key version named inside it.
    pub async fn open(
        &self,
        org: &OrgId,
        record_id: &str,
        field: &str,
        sealed: &SealedSecret,
    ) -> Result<SecretString, AuthError> {
        let version = sealed.key_version()?;
        let keys = self.org_keys(org, Some(version)).await?;
        let key = keys.keys.get(&version).ok_or(VaultError::UnwrapFailed {
            org_id: org.to_string(),
            version,
        })?;
        let ctx = SealContext {
            org_id: org.as_ref(),
            record_id,
            field,
            key_version: version,
        };
        Ok(key.open(&ctx, sealed)?)
    }

    /// [`Keyring::open`] from the stored text form.
    pub async fn open_str(
        &self,
        org: &OrgId,
        record_id: &str,
        field: &str,
        sealed: &str,
    ) -> Result<SecretString, AuthError> {
        let sealed = SealedSecret::parse_str(sealed)?;
        self.open(org, record_id, field, &sealed).await
    }

    /// The organization's keys, loading them (and creating version 1 on first use) when the
    /// cache lacks them or lacks `need_version`.
    async fn org_keys(
        &self,
        org: &OrgId,
        need_version: Option<u32>,
    ) -> Result<Arc<OrgKeys>, AuthError> {
        if let Some(k) = self.inner.orgs.get(org)
            && need_version.is_none_or(|v| k.keys.contains_key(&v))
        {
            return Ok(k.clone());
        }
        let _guard = self.inner.load_lock.lock().await;
        if let Some(k) = self.inner.orgs.get(org)
            && need_version.is_none_or(|v| k.keys.contains_key(&v))
        {
            return Ok(k.clone());
        }
        let mut stored = self.inner.store.get_data_keys(org).await?;
        if stored.is_empty() {
            let dk = DataKey::generate();
            let mut wrapped = self.master().wrap(&dk, org.as_ref(), 1);
            let mut put = self.inner.store.put_data_key(org, 1, &wrapped).await;
            // Another process rotated the master key: a new key in the file is ours too.
            if let Err(StoreError::MasterKeyChanged { current, .. }) = &put
                && let Some(newer) = self.reload_master(current)
            {
                wrapped = newer.wrap(&dk, org.as_ref(), 1);
                put = self.inner.store.put_data_key(org, 1, &wrapped).await;
            }
            match put {
                Ok(_) => {}
                // Another instance created version 1 first: the re-read below gives
                // everybody the same key.
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            stored = self.inner.store.get_data_keys(org).await?;
        }
        let mut keys = BTreeMap::new();
        for rec in &stored {
            keys.insert(rec.version, self.unwrap_record(rec, org)?);
        }
        let current = keys.keys().next_back().copied().unwrap_or(1);
        let loaded = Arc::new(OrgKeys { current, keys });
        self.inner.orgs.insert(org.clone(), loaded.clone());
        Ok(loaded)
    }

    /// Replaces the master key: every data key is unwrapped with `old` and wrapped with `new`,
    /// then the key-check record is switched. Sealed secrets do not change (so instances
    /// holding unwrapped data keys keep reading). With `reencrypt`, each organization also
    /// gets a new data key version and every stored secret is resealed with it.
    ///
    /// Safe to run again after an interruption: keys already wrapped by `new` are skipped.
    pub async fn rotate_master(
        store: &Store,
        old: &MasterKey,
        new: &MasterKey,
        reencrypt: bool,
    ) -> Result<RotationReport, AuthError> {
        let mut report = RotationReport::default();
        let check = store.get_key_check().await?.ok_or_else(|| {
            AuthError::invalid("database", "not initialised with a master key yet")
        })?;
        if new.verify_key_check(&check.record).is_ok() {
            // Already switched (a rotation ran before); only re-encryption may be left.
        } else {
            old.verify_key_check(&check.record)
                .map_err(|_| AuthError::WrongMasterKey)?;
            // Rewrap everything and switch the key-check record in one transaction; a data
            // key created meanwhile makes the store answer Conflict: list again and retry.
            let mut attempts = 0;
            loop {
                attempts += 1;
                let mut rewrapped = Vec::new();
                for mut rec in store.admin_list_all_data_keys().await? {
                    let dk = old.unwrap(&rec.wrapped, rec.org_id.as_ref(), rec.version)?;
                    rec.wrapped = new.wrap(&dk, rec.org_id.as_ref(), rec.version);
                    rewrapped.push(rec);
                }
                match store
                    .admin_replace_master_key(
                        &old.key_id(),
                        &new.key_id(),
                        &new.key_check(),
                        &rewrapped,
                    )
                    .await
                {
                    Ok(()) => {
                        report.data_keys_rewrapped = rewrapped.len();
                        break;
                    }
                    Err(StoreError::Conflict { .. }) if attempts < 5 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if reencrypt {
            // New data key versions are wrapped by the old key too while it is not retired,
            // so instances still on it read what is resealed under them.
            let keyring =
                Keyring::open_with(store.clone(), new.clone(), None, Some(old.clone())).await?;
            for org in store.list_organizations().await? {
                keyring.add_data_key_version(&org.id).await?;
                report.new_data_keys += 1;
                report.secrets_resealed += keyring.reseal_org(&org.id).await?;
            }
        }
        Ok(report)
    }

    /// Creates the next data key version for an organization and makes it current.
    /// `master-key retire`: forgets the master key the last rotation replaced. Run with the
    /// current key; refused while an instance reported using the previous key within
    /// `active_window` (serving instances report every [`KEY_REPORT_INTERVAL`]).
    pub async fn retire_previous_master(
        store: &Store,
        current: &MasterKey,
        active_window: std::time::Duration,
    ) -> Result<RetireReport, AuthError> {
        let check = store.get_key_check().await?.ok_or_else(|| {
            AuthError::invalid("database", "not initialised with a master key yet")
        })?;
        current
            .verify_key_check(&check.record)
            .map_err(|_| AuthError::WrongMasterKey)?;
        let Some(previous) = check.previous_master_key_id else {
            return Ok(RetireReport::default());
        };
        let since = time::OffsetDateTime::now_utc() - active_window;
        let users = store.master_key_users(&previous, since).await?;
        if !users.is_empty() {
            return Err(AuthError::Store(StoreError::InUse {
                what: "previous master key",
                id: previous,
                users: format!(
                    "{}; restart them with the new master key (or let them pick it up from master.key), wait {} s, then retire again",
                    users
                        .iter()
                        .map(|u| format!(
                            "instance {} (last report {})",
                            u.instance_id,
                            u.seen_at
                                .format(&time::format_description::well_known::Rfc3339)
                                .unwrap_or_default()
                        ))
                        .collect::<Vec<_>>()
                        .join(", "),
                    active_window.as_secs()
                ),
            }));
        }
        let n = store.admin_retire_previous_master_key(&previous).await?;
        Ok(RetireReport {
            retired_master_key_id: Some(previous),
            data_keys_unwrapped: n as usize,
        })
    }

    async fn add_data_key_version(&self, org: &OrgId) -> Result<u32, AuthError> {
        let _guard = self.inner.load_lock.lock().await;
        let stored = self.inner.store.get_data_keys(org).await?;
        let next = stored.iter().map(|r| r.version).max().unwrap_or(0) + 1;
        let dk = DataKey::generate();
        let previous = self
            .inner
            .retiring
            .as_ref()
            .map(|old| old.wrap(&dk, org.as_ref(), next));
        self.inner
            .store
            .put_data_key_with_previous(
                org,
                next,
                &self.master().wrap(&dk, org.as_ref(), next),
                previous.as_ref(),
            )
            .await?;
        self.inner.orgs.remove(org);
        Ok(next)
    }

    /// Reseals every credential, OAuth client secret and webhook secret of an organization
    /// with its current data key. Credentials are written with compare-and-swap on their generation, so a
    /// refresh that lands meanwhile is never overwritten (the value is then resealed again).
    async fn reseal_org(&self, org: &OrgId) -> Result<usize, AuthError> {
        let store = &self.inner.store;
        let mut count = 0;
        for client in store.list_oauth_clients(org).await? {
            if client.sealed_client_secret.is_empty() {
                continue;
            }
            let rid = client.id.to_string();
            let secret = self
                .open_str(
                    org,
                    &rid,
                    fields::CLIENT_SECRET,
                    &client.sealed_client_secret,
                )
                .await?;
            let sealed = self
                .seal_str(org, &rid, fields::CLIENT_SECRET, &secret)
                .await?;
            if store
                .admin_reseal_oauth_client_secret(
                    org,
                    &client.id,
                    &client.sealed_client_secret,
                    &sealed,
                )
                .await?
            {
                count += 1;
            }
        }
        for hook in store.admin_list_webhook_secrets(org).await? {
            let field = match hook.kind {
                WebhookSecretKind::Subscription => fields::WEBHOOK_SIGNING_SECRET,
                WebhookSecretKind::Receiver => fields::WEBHOOK_RECEIVER_SECRET,
            };
            let secret = self
                .open_str(org, &hook.record_id, field, &hook.sealed)
                .await?;
            let sealed = self.seal_str(org, &hook.record_id, field, &secret).await?;
            // Compare and swap: a secret deleted meanwhile is not written back.
            if store
                .admin_reseal_webhook_secret(org, &hook, &sealed)
                .await?
            {
                count += 1;
            }
        }
        for conn in store.list_connections(org, None).await? {
            let rid = conn.id.to_string();
            // Compare-and-swap on the generation: a refresh landing meanwhile wins, and we
            // reseal its values on the next attempt.
            for _attempt in 0..5 {
                let Some(cred) = store.get_credential(org, &conn.id).await? else {
                    break;
                };
                let mut resealed: [Option<String>; 3] = [None, None, None];
                let mut n = 0;
                for (slot, (field, value)) in resealed.iter_mut().zip([
                    (fields::API_TOKEN, &cred.sealed_api_token),
                    (fields::ACCESS_TOKEN, &cred.sealed_access_token),
                    (fields::REFRESH_TOKEN, &cred.sealed_refresh_token),
                ]) {
                    if let Some(text) = value.as_deref() {
                        let plain = self.open_str(org, &rid, field, text).await?;
                        *slot = Some(self.seal_str(org, &rid, field, &plain).await?);
                        n += 1;
                    }
                }
                let [api, access, refresh] = &resealed;
                if store
                    .admin_reseal_credential(
                        org,
                        &conn.id,
                        cred.generation,
                        api.as_deref(),
                        access.as_deref(),
                        refresh.as_deref(),
                    )
                    .await?
                {
                    count += n;
                    break;
                }
            }
        }
        Ok(count)
    }
}

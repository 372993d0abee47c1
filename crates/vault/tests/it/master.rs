//! Master key: file handling, data-key wrapping, and the key-check record.

use jiragate_vault::*;

#[test]
fn load_or_create_generates_once_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (k1, created) = MasterKey::load_or_create(&data).unwrap();
    assert!(created);
    let path = data.join(MASTER_KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (k2, created) = MasterKey::load_or_create(&data).unwrap();
    assert!(!created);
    assert_eq!(k1.key_id(), k2.key_id());
    assert_eq!(MasterKey::from_file(&path).unwrap().key_id(), k1.key_id());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        k1.to_base64().expose_secret()
    );
}

#[test]
fn corrupt_key_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MASTER_KEY_FILE), "short").unwrap();
    let err = MasterKey::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(err, VaultError::InvalidMasterKey { .. }), "{err}");
    let missing = MasterKey::from_file(&dir.path().join("nope")).unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
}

#[test]
fn wrap_unwrap_binds_org_and_version() {
    let mk = MasterKey::generate();
    let dk = DataKey::generate();
    let w = mk.wrap(&dk, "org-1", 3);
    assert_eq!(w.master_key_id, mk.key_id());
    let back = mk.unwrap(&w, "org-1", 3).unwrap();
    // The unwrapped key opens what the original sealed.
    let c = SealContext {
        org_id: "org-1",
        record_id: "r",
        field: "f",
        key_version: 3,
    };
    let sealed = dk.seal(&c, &SecretString::from("hello".to_owned()));
    assert_eq!(back.open(&c, &sealed).unwrap().expose_secret(), "hello");

    assert!(matches!(
        mk.unwrap(&w, "org-2", 3),
        Err(VaultError::UnwrapFailed { .. })
    ));
    assert!(matches!(
        mk.unwrap(&w, "org-1", 4),
        Err(VaultError::UnwrapFailed { .. })
    ));
    let other = MasterKey::generate();
    assert!(matches!(
        other.unwrap(&w, "org-1", 3),
        Err(VaultError::MasterKeyMismatch { .. })
    ));
    // Even with a forged key id, another master key cannot decrypt.
    let forged = WrappedDataKey {
        master_key_id: other.key_id(),
        ..w.clone()
    };
    assert!(matches!(
        other.unwrap(&forged, "org-1", 3),
        Err(VaultError::UnwrapFailed { .. })
    ));
    for i in 0..w.bytes.len() {
        let mut t = w.clone();
        t.bytes[i] ^= 0x01;
        assert!(
            mk.unwrap(&t, "org-1", 3).is_err(),
            "flip at byte {i} accepted"
        );
    }
    assert!(
        mk.unwrap(&WrappedDataKey { bytes: vec![], ..w }, "org-1", 3)
            .is_err()
    );
}

#[test]
fn key_check_proves_the_right_master_key() {
    let mk = MasterKey::generate();
    let rec = mk.key_check();
    mk.verify_key_check(&rec).unwrap();
    let again = MasterKey::from_base64(mk.to_base64().expose_secret()).unwrap();
    again.verify_key_check(&rec).unwrap();
    let err = MasterKey::generate().verify_key_check(&rec).unwrap_err();
    assert!(matches!(err, VaultError::WrongMasterKey));
    assert!(
        err.to_string()
            .contains("master key does not match this database"),
        "{err}"
    );
    let mut bad = rec.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(mk.verify_key_check(&bad).is_err());
    assert!(mk.verify_key_check(&[]).is_err());
}

#[test]
fn key_id_is_stable_short_and_not_the_key() {
    let mk = MasterKey::generate();
    let id = mk.key_id();
    assert_eq!(id.len(), 16);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    let b64 = mk.to_base64();
    assert!(!b64.expose_secret().contains(&id));
    assert!(!format!("{mk:?}").contains(b64.expose_secret()));
    assert_ne!(MasterKey::generate().key_id(), id);
}

//! Signed databases: an ed25519 key signs every database homeostat writes, and a
//! configured key (secret or public) makes an unsigned or wrongly signed database refused.
//!
//! Without a key the trailer's SHA-256 still catches damage, but anyone who can write the
//! database can also recompute it; the signature is what stops a forger.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// What a signature covers: a domain tag, then the SHA-256 of the database body.
fn message(digest: &[u8; 32]) -> [u8; 48] {
    let mut m = [0u8; 48];
    m[..16].copy_from_slice(b"homeostat-db-v1\0");
    m[16..].copy_from_slice(digest);
    m
}

/// The keys a run uses.
#[derive(Clone, Default)]
pub struct Keys {
    pub signing: Option<SigningKey>,
    pub verifying: Option<VerifyingKey>,
}

impl Keys {
    /// Loads `key` (a file holding a hex ed25519 secret key) and `public` (hex).
    pub fn load(key: Option<&Path>, public: Option<&str>) -> Result<Keys> {
        let signing = key
            .map(|p| {
                let text = crate::limits::read_to_string(p, crate::limits::SIGNING_KEY)
                    .with_context(|| format!("cannot read signing key {}", p.display()))?;
                let seed = hex32(text.trim()).with_context(|| {
                    format!("signing key {}: expected 64 hex digits", p.display())
                })?;
                Ok::<_, anyhow::Error>(SigningKey::from_bytes(&seed))
            })
            .transpose()?;
        let verifying = match public {
            Some(h) => {
                let bytes = hex32(h.trim()).context("public_key: expected 64 hex digits")?;
                Some(
                    VerifyingKey::from_bytes(&bytes)
                        .context("public_key is not a valid ed25519 key")?,
                )
            }
            None => signing.as_ref().map(SigningKey::verifying_key),
        };
        if let (Some(s), Some(v)) = (&signing, &verifying) {
            if s.verifying_key() != *v {
                bail!("public_key does not belong to the signing key");
            }
        }
        Ok(Keys { signing, verifying })
    }

    pub fn sign(&self, digest: &[u8; 32]) -> Option<[u8; 64]> {
        self.signing
            .as_ref()
            .map(|k| k.sign(&message(digest)).to_bytes())
    }

    /// `Err` with the reason when a key is configured and the signature is missing or bad.
    /// The core reader's signature hook.
    pub fn check(
        &self,
        digest: &[u8; 32],
        signature: Option<&[u8; 64]>,
    ) -> Result<(), &'static str> {
        let Some(v) = &self.verifying else {
            return Ok(());
        };
        let Some(sig) = signature else {
            return Err("a signing key is configured but the database is not signed");
        };
        v.verify(&message(digest), &Signature::from_bytes(sig))
            .map_err(|_| "signature does not verify with the configured key (forged or signed by another key)")
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `homeostat keygen`: a new secret key in `out` (mode 0600, never overwritten); returns
/// the public key in hex.
pub fn keygen(out: &Path) -> Result<String> {
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("cannot read /dev/urandom")?;
    let key = SigningKey::from_bytes(&seed);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| {
            format!(
                "cannot create key file {} (it must not exist yet)",
                out.display()
            )
        })?;
    writeln!(f, "{}", homeostat_core::digest::Hex(&seed))
        .with_context(|| format!("cannot write {}", out.display()))?;
    f.sync_all()?;
    Ok(homeostat_core::digest::Hex(key.verifying_key().as_bytes()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_refuse() {
        let dir = tempdir();
        let path = dir.join("k");
        let public = keygen(&path).unwrap();
        let keys = Keys::load(Some(&path), Some(&public)).unwrap();
        let d = [7u8; 32];
        let sig = keys.sign(&d).unwrap();
        assert!(keys.check(&d, Some(&sig)).is_ok());
        assert!(keys.check(&[8u8; 32], Some(&sig)).is_err());
        assert!(keys.check(&d, None).is_err());
        assert!(Keys::default().check(&d, None).is_ok());
        assert!(keygen(&path).is_err(), "never overwrites a key");
        let _ = fs::remove_dir_all(dir);
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("homeostat-sign-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }
}

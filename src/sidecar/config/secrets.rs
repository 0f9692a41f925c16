//! Secrets in the configuration: each can be given inline or, better, as a `*_file` that
//! is read once at load time (a Kubernetes or Docker secret mount), so that the value never
//! sits in the TOML file, the environment or a process listing.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

use crate::jose::{Algorithm, SigningKey};
use crate::secret::Secret;

use super::ConfigError;

/// Deserializes an optional inline secret straight into a [`Secret`], so that the text is
/// zeroized on drop and never printed by `Debug`.
pub(super) fn de_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.map(Secret::new))
}

/// Reads a file named by the configuration, naming `field` on failure.
pub(super) fn read_file(field: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|error| {
        ConfigError::new(field, format!("cannot read {}: {error}", path.display()))
    })
}

/// Resolves an inline secret and its `*_file` form into the inline field: the file, read
/// now, with one trailing newline removed (what `echo` and most editors add). Both at once
/// is an error, since either could be the one meant.
pub(super) fn resolve(
    prefix: &str,
    name: &str,
    inline: &mut Option<Secret>,
    file: Option<&Path>,
) -> Result<(), ConfigError> {
    let Some(path) = file else {
        return Ok(());
    };
    let field = format!("{prefix}.{name}_file");
    if inline.is_some() {
        return Err(ConfigError::new(
            field,
            format!("give either {name} or {name}_file, not both (the file is the safer one)"),
        ));
    }
    let bytes = read_file(&field, path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ConfigError::new(&field, format!("{} is not UTF-8 text", path.display())))?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    if text.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("{} is empty", path.display()),
        ));
    }
    *inline = Some(Secret::new(text));
    Ok(())
}

/// Decodes a symmetric key given as base64 (standard or URL-safe alphabet, padded or not),
/// as `openssl rand -base64 32` prints it.
pub(super) fn base64_key(field: &str, key: &Secret) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let text = key.expose().trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| {
            ConfigError::new(
                field,
                "is not base64; generate a key with `openssl rand -base64 32`",
            )
        })
}

/// The bytes of a private key file, held until the key is parsed. `Debug` prints nothing
/// of them.
#[derive(Clone, Default)]
pub(super) struct KeyFile(Option<std::sync::Arc<Zeroizing<Vec<u8>>>>);

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(_) => f.write_str("KeyFile([redacted])"),
            None => f.write_str("KeyFile(not loaded)"),
        }
    }
}

// Configurations compare equal when the same key bytes were read (tests compare sections).
impl PartialEq for KeyFile {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => a.as_slice() == b.as_slice(),
            _ => false,
        }
    }
}

impl Eq for KeyFile {}

impl KeyFile {
    /// Reads `path` now.
    pub(super) fn load(field: &str, path: &Path) -> Result<Self, ConfigError> {
        Ok(KeyFile(Some(std::sync::Arc::new(read_file(field, path)?))))
    }

    /// Parses the key for `alg`: PKCS#8, as DER or as PEM (`BEGIN PRIVATE KEY`).
    pub(super) fn signing_key(
        &self,
        field: &str,
        path: Option<&PathBuf>,
        alg: Algorithm,
    ) -> Result<SigningKey, ConfigError> {
        let Some(bytes) = &self.0 else {
            let shown = path.map_or_else(String::new, |path| format!(" {}", path.display()));
            return Err(ConfigError::new(
                field,
                format!(
                    "the key file{shown} was not read; load the configuration with Config::load"
                ),
            ));
        };
        let der = pkcs8_der(field, bytes)?;
        SigningKey::from_pkcs8(alg, &der).map_err(|error| {
            ConfigError::new(field, format!("not a PKCS#8 {alg} private key ({error})"))
        })
    }
}

/// The DER inside a PEM `PRIVATE KEY` block, or the bytes themselves when they are not PEM.
fn pkcs8_der(field: &str, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(Zeroizing::new(bytes.to_vec()));
    };
    if !text.contains("-----BEGIN ") {
        return Ok(Zeroizing::new(bytes.to_vec()));
    }
    let body = text
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(body, _)| body)
        .ok_or_else(|| {
            ConfigError::new(
                field,
                "PEM without a PKCS#8 \"PRIVATE KEY\" block; convert with `openssl pkcs8 -topk8 -nocrypt -in key.pem`",
            )
        })?;
    let base64: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    STANDARD
        .decode(base64.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| ConfigError::new(field, "the PEM block is not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_removed_and_both_forms_are_refused() {
        let dir = std::env::temp_dir().join(format!("mcp-warden-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s");
        for (contents, expected) in [("a\n", "a"), ("a\r\n", "a"), ("a\n\n", "a\n"), ("a", "a")] {
            std::fs::write(&file, contents).unwrap();
            let mut secret = None;
            resolve("t", "secret", &mut secret, Some(&file)).unwrap();
            assert_eq!(secret.unwrap().expose(), expected);
        }
        let mut both = Some(Secret::new("inline"));
        let error = resolve("t", "secret", &mut both, Some(&file)).unwrap_err();
        assert_eq!(error.field, "t.secret_file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_decode_from_either_base64_alphabet_with_or_without_padding() {
        for text in ["+/+/", "-_-_", "AA==", "AA", " AA==\n"] {
            assert!(base64_key("k", &Secret::new(text)).is_ok(), "{text}");
        }
        assert!(base64_key("k", &Secret::new("not base64!")).is_err());
    }

    #[test]
    fn pem_is_unwrapped_and_der_passes_through() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            pkcs8_der("k", pem.as_bytes()).unwrap().as_slice(),
            [0, 1, 2, 3]
        );
        assert_eq!(
            pkcs8_der("k", &[0x30, 0x82]).unwrap().as_slice(),
            [0x30, 0x82]
        );
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAEC\n-----END EC PRIVATE KEY-----\n";
        assert!(pkcs8_der("k", sec1.as_bytes()).is_err());
    }
}

//! Server nonces the client has been given (RFC 9449 §8 for authorization servers, §9 for
//! resource servers), remembered per origin: each server issues its own, and a nonce is
//! sent back only to the server that gave it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use url::Url;

/// The most origins remembered: an agent talks to a handful of servers; a bound keeps a
/// misbehaving set of redirects or routes from growing the map.
const MAX_ORIGINS: usize = 64;
/// The longest nonce kept (RFC 9449 §8 leaves the form to the server; the guard's are ~60
/// bytes).
const MAX_NONCE_BYTES: usize = 512;

/// The latest nonce of each origin.
#[derive(Debug, Default)]
pub struct NonceBook {
    nonces: Mutex<HashMap<String, String>>,
}

impl NonceBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// The nonce to send to `url`'s origin, if one was given.
    pub fn get(&self, url: &Url) -> Option<String> {
        self.map().get(&origin(url)).cloned()
    }

    /// Remembers `nonce` for `url`'s origin; an empty, oversized or non-printable one is
    /// ignored (RFC 9449 §8: `nonce = 1*NQCHAR`).
    pub fn put(&self, url: &Url, nonce: &str) {
        // NQCHAR = %x21 / %x23-5B / %x5D-7E
        let nqchars = nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
        if nonce.is_empty() || nonce.len() > MAX_NONCE_BYTES || !nqchars {
            return;
        }
        let mut map = self.map();
        let key = origin(url);
        if !map.contains_key(&key) && map.len() >= MAX_ORIGINS {
            map.clear();
        }
        map.insert(key, nonce.to_owned());
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_stay_with_their_origin() {
        let book = NonceBook::new();
        let a = Url::parse("https://a.example/token").expect("url");
        let a_other_path = Url::parse("https://a.example/mcp").expect("url");
        let b = Url::parse("https://b.example/mcp").expect("url");
        book.put(&a, "n1");
        assert_eq!(book.get(&a_other_path).as_deref(), Some("n1"));
        assert_eq!(book.get(&b), None);
        book.put(&a, "n2");
        assert_eq!(book.get(&a).as_deref(), Some("n2"));
        book.put(&a, "");
        book.put(&a, &"x".repeat(MAX_NONCE_BYTES + 1));
        book.put(&a, "bad\u{7}");
        assert_eq!(book.get(&a).as_deref(), Some("n2"));
    }
}

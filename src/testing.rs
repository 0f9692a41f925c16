//! Test support; not part of the stable API.
//!
//! Test doubles for this crate's own tests, benches, examples and the vector runner: they
//! stand in for a clock, a nonce source and an introspection endpoint with fixed answers.
//! Hidden from the documentation and free to change in any release; a deployment never
//! needs them.

use std::collections::HashMap;

use aws_lc_rs::constant_time;

use crate::clock::Clock;
use crate::dpop::{NonceError, NonceSource};
use crate::jose::Object;
use crate::token::{IntrospectionRules, TokenError, TokenFuture, TokenVerifier};

/// A clock stuck at one instant (tests, vectors).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}

/// One constant nonce (tests, vectors): issues it and accepts only it, compared in constant
/// time (RFC 9449 §9 leaves the nonce's form to the server).
#[derive(Debug, Clone)]
pub struct FixedNonce {
    value: String,
}

impl FixedNonce {
    /// Always issues `value` and accepts only `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
        }
    }
}

impl NonceSource for FixedNonce {
    fn issue(&self, _now: u64) -> String {
        self.value.clone()
    }

    fn check(&self, nonce: &str, _now: u64) -> Result<(), NonceError> {
        constant_time::verify_slices_are_equal(nonce.as_bytes(), self.value.as_bytes())
            .map_err(|_| NonceError::Mismatch)
    }
}

/// Introspection answered from a fixed table of responses: for the vector runner and for
/// tests, where the table stands for what the authorization server would answer. A token
/// not in the table is inactive, as RFC 7662 §2.2 has a server answer for unknown tokens;
/// every answer is judged by [`IntrospectionRules::check`], as a real endpoint's would be.
#[derive(Debug, Clone)]
pub struct StaticIntrospection {
    rules: IntrospectionRules,
    responses: HashMap<String, Object>,
}

impl StaticIntrospection {
    /// A table of token → RFC 7662 response.
    pub fn new(rules: IntrospectionRules, responses: HashMap<String, Object>) -> Self {
        StaticIntrospection { rules, responses }
    }
}

impl TokenVerifier for StaticIntrospection {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> TokenFuture<'a> {
        let result = match self.responses.get(token) {
            Some(response) => self.rules.check(response.clone(), now),
            None => Err(TokenError::Inactive),
        };
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000;

    #[test]
    fn fixed_nonce() {
        let f = FixedNonce::new("abc123");
        assert_eq!(f.issue(T), "abc123");
        assert_eq!(f.check("abc123", T), Ok(()));
        assert_eq!(f.check("abc124", T), Err(NonceError::Mismatch));
        assert_eq!(f.check("abc12", T), Err(NonceError::Mismatch));
    }

    #[test]
    fn a_fixed_clock_stands_still() {
        assert_eq!(FixedClock(T).now(), T);
    }
}

//! What the caching sources (GCP metadata, GitHub Actions, Kubernetes TokenRequest, SPIFFE,
//! command) share besides their [`TokenCache`](super::cache::TokenCache): the
//! [`TokenSource`](super::TokenSource) impl that puts their own fetch behind the cache, a
//! `Debug` that shows the name only, their builders' setters, and the rule that an audience
//! is required. Each source keeps only its platform's protocol.

use super::error::SourceError;

/// `impl TokenSource for $source`: its `name` field, and its `fetch_uncached()` behind its
/// `cache` (fetched once however many callers wait, kept until 80 % of the lifetime).
macro_rules! cached_source {
    ($source:ident) => {
        impl $crate::workload::TokenSource for $source {
            fn name(&self) -> &str {
                &self.name
            }

            fn fetch(&self) -> $crate::workload::FetchFuture<'_> {
                Box::pin(self.cache.get(self.fetch_uncached()))
            }
        }
    };
}

/// `impl Debug for $source` showing its `name` field only: no token, no bearer.
macro_rules! name_only_debug {
    ($source:ident) => {
        /// The source's name only: no token, no bearer.
        impl ::std::fmt::Debug for $source {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($source))
                    .field("name", &self.name)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// Builder setters, each written as its doc comment and its name: `timeout;` sets
/// `self.timeout`, `clock;` sets `self.clock` (the clock the cache reads),
/// `dangerous_allow_plain_http;` sets `self.allow_plain_http`.
macro_rules! setters {
    ($($(#[$doc:meta])* $setter:ident;)*) => {
        $($crate::workload::cached::setters!(@ $(#[$doc])* $setter);)*
    };
    (@ $(#[$doc:meta])* timeout) => {
        $(#[$doc])*
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.timeout = timeout;
            self
        }
    };
    (@ $(#[$doc:meta])* clock) => {
        $(#[$doc])*
        pub fn clock(mut self, clock: ::std::sync::Arc<dyn $crate::clock::Clock>) -> Self {
            self.clock = clock;
            self
        }
    };
    (@ $(#[$doc:meta])* dangerous_allow_plain_http) => {
        $(#[$doc])*
        pub fn dangerous_allow_plain_http(mut self) -> Self {
            self.allow_plain_http = true;
            self
        }
    };
}

pub(super) use {cached_source, name_only_debug, setters};

/// The configured audience of the source named `name`: required, and not empty.
pub(super) fn audience(name: &str, audience: Option<String>) -> Result<String, SourceError> {
    audience
        .filter(|audience| !audience.is_empty())
        .ok_or_else(|| SourceError::config(name, "audience", "is required"))
}

//! Readiness and sampled metrics, one [`Probe`] per thing a role depends on. Each role hands
//! the host its probes ([`super::role::Role::probes`]); the host adds the shared ones (the
//! replay store) and the admin listener runs them all: `/readyz` is 200 when every probe is
//! ready and 503 with one line per problem otherwise, and `/metrics` lets every probe set
//! its gauges just before rendering.
//!
//! [`JwksProbe`] is the stock probe of a remotely fetched key set, for any role that trusts
//! an issuer's keys.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::jwks::{KeySource, RemoteJwks};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The longest one probe may take before `/readyz` counts it as a problem: kubelet's probe
/// timeout is 1 s by default, so each probe should answer well within that on its own.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One thing a role needs before it can take traffic.
pub trait Probe: Send + Sync {
    /// What is probed, for the line `/readyz` prints when the probe does not answer
    /// (`replay store`, `keys of issuer https://as.example.com`).
    fn name(&self) -> &str;

    /// `Ok` when ready; otherwise one line saying what stands between the role and
    /// traffic, naming the thing (`keys of issuer https://as.example.com not loaded`). Must
    /// be bounded (a second or two); the host cuts it off after [`PROBE_TIMEOUT`].
    fn ready(&self) -> BoxFuture<'_, Result<(), String>>;

    /// Sets the probe's gauges, just before `/metrics` renders. Default: none.
    fn sample(&self) {}
}

/// Every probe of the process: the shared ones, then each role's.
#[derive(Clone, Default)]
pub struct Readiness {
    probes: Vec<Arc<dyn Probe>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.probes.iter().map(|probe| probe.name()))
            .finish()
    }
}

impl Readiness {
    /// Readiness from `probes`, run in this order.
    pub fn new(probes: Vec<Arc<dyn Probe>>) -> Self {
        Readiness { probes }
    }

    /// Every problem standing between the process and traffic, in probe order; empty when
    /// ready.
    pub async fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for probe in &self.probes {
            match tokio::time::timeout(PROBE_TIMEOUT, probe.ready()).await {
                Ok(Ok(())) => {}
                Ok(Err(problem)) => problems.push(problem),
                Err(_) => problems.push(format!(
                    "{}: no answer within {} s",
                    probe.name(),
                    PROBE_TIMEOUT.as_secs()
                )),
            }
        }
        problems
    }

    /// Lets every probe set its gauges.
    pub fn sample(&self) {
        for probe in &self.probes {
            probe.sample();
        }
    }
}

/// An issuer's remotely fetched keys: ready once loaded (a probe that finds them missing
/// tries one bounded load); gauges for the keys' age, fetches and failures, labelled with
/// the issuer.
#[derive(Debug, Clone)]
pub struct JwksProbe {
    name: String,
    issuer: String,
    keys: RemoteJwks,
}

impl JwksProbe {
    /// The probe of `issuer`'s `keys`.
    pub fn new(issuer: impl Into<String>, keys: RemoteJwks) -> Self {
        let issuer = issuer.into();
        JwksProbe {
            name: format!("keys of issuer {issuer}"),
            issuer,
            keys,
        }
    }
}

impl Probe for JwksProbe {
    fn name(&self) -> &str {
        &self.name
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.keys.current().is_some() {
                return Ok(());
            }
            // Try once, bounded: a probe must answer quickly.
            match tokio::time::timeout(Duration::from_secs(2), self.keys.load()).await {
                Ok(Ok(_)) => Ok(()),
                _ => Err(format!("{} not loaded", self.name)),
            }
        })
    }

    fn sample(&self) {
        let stats = self.keys.stats();
        let issuer = &self.issuer;
        if let Some(age) = stats.key_age {
            metrics::gauge!("mcp_warden_jwks_key_age_seconds", "issuer" => issuer.clone())
                .set(age.as_secs_f64());
        }
        metrics::gauge!("mcp_warden_jwks_fetches", "issuer" => issuer.clone())
            .set(stats.fetches as f64);
        metrics::gauge!("mcp_warden_jwks_fetch_failures", "issuer" => issuer.clone())
            .set(stats.failures as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A probe that answers what it is told and counts its samples.
    struct Fixed {
        name: &'static str,
        answer: Result<(), &'static str>,
        sampled: AtomicUsize,
    }

    impl Probe for Fixed {
        fn name(&self) -> &str {
            self.name
        }

        fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async move { self.answer.map_err(str::to_owned) })
        }

        fn sample(&self) {
            self.sampled.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn fixed(name: &'static str, answer: Result<(), &'static str>) -> Arc<Fixed> {
        Arc::new(Fixed {
            name,
            answer,
            sampled: AtomicUsize::new(0),
        })
    }

    #[tokio::test]
    async fn readiness_lists_every_problem_in_probe_order_and_samples_all() {
        let probes = [
            fixed("a", Err("a is down")),
            fixed("b", Ok(())),
            fixed("c", Err("c is down")),
        ];
        let readiness = Readiness::new(
            probes
                .iter()
                .map(|probe| probe.clone() as Arc<dyn Probe>)
                .collect(),
        );
        assert_eq!(readiness.problems().await, ["a is down", "c is down"]);
        readiness.sample();
        assert!(
            probes
                .iter()
                .all(|probe| probe.sampled.load(Ordering::Relaxed) == 1)
        );
        assert_eq!(format!("{readiness:?}"), r#"["a", "b", "c"]"#);
        assert!(Readiness::default().problems().await.is_empty());
    }
}

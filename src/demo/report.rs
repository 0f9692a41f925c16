//! What the demo reports: one record per step — who acted or refused, what happened, the
//! HTTP status and `WWW-Authenticate` of a refusal, whether it was the expected outcome —
//! as a line a person can follow (colour only on a terminal) or as JSON for machines.
//! Tokens and proofs are only ever shown decoded (header and claims), never raw.

use serde::Serialize;
use serde_json::{Value, json};

use crate::jose::base64url_decode;

/// One step.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// A stable id (`token`, `stolen-token`, …).
    pub step: &'static str,
    /// Who acted or refused (`agent`, `issuer`, `guard`, `kubelet`).
    pub who: &'static str,
    /// Whether the expected outcome happened.
    pub ok: bool,
    /// What happened.
    pub detail: String,
    /// For a refusal: the HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For a refusal: the `WWW-Authenticate` field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub www_authenticate: Option<String>,
    /// With `--verbose`: the token or proof of the step, decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded: Option<Value>,
}

impl StepRecord {
    pub(super) fn ok(step: &'static str, who: &'static str, detail: String) -> Self {
        Self::check(true, step, who, detail)
    }

    pub(super) fn failed(step: &'static str, who: &'static str, detail: String) -> Self {
        Self::check(false, step, who, detail)
    }

    pub(super) fn check(ok: bool, step: &'static str, who: &'static str, detail: String) -> Self {
        StepRecord {
            step,
            who,
            ok,
            detail,
            status: None,
            www_authenticate: None,
            decoded: None,
        }
    }

    /// An attack: `ok` when it was refused as it should be.
    pub(super) fn refused(
        step: &'static str,
        who: &'static str,
        what: &str,
        status: u16,
        www_authenticate: Option<String>,
        ok: bool,
    ) -> Self {
        let verb = if ok { "refused" } else { "did NOT refuse" };
        StepRecord {
            step,
            who,
            ok,
            detail: format!("{verb} {what}"),
            status: Some(status),
            www_authenticate,
            decoded: None,
        }
    }

    /// The step as one line (two with a refusal's challenge), coloured when `colour`.
    pub fn line(&self, colour: bool) -> String {
        let (mark, paint) = if self.ok {
            ("ok", "\x1b[32m")
        } else {
            ("FAILED", "\x1b[31m")
        };
        let mark = if colour {
            format!("{paint}{mark:<6}\x1b[0m")
        } else {
            format!("{mark:<6}")
        };
        let mut line = format!("{mark} {:<16} {:<8} {}", self.step, self.who, self.detail);
        if let Some(status) = self.status {
            line.push_str(&format!("\n{:>33}{status}", "→ "));
            if let Some(challenge) = &self.www_authenticate {
                line.push_str(&format!(", WWW-Authenticate: {challenge}"));
            }
        }
        if let Some(decoded) = &self.decoded {
            let pretty = serde_json::to_string_pretty(decoded).unwrap_or_default();
            for row in pretty.lines() {
                line.push_str(&format!("\n{:>32}{row}", ""));
            }
        }
        line
    }
}

/// Every step, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// The steps.
    pub steps: Vec<StepRecord>,
}

impl Outcome {
    /// Whether every expected outcome happened.
    pub fn ok(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|step| step.ok)
    }

    /// The steps that did not go as expected.
    pub fn failed(&self) -> Vec<&StepRecord> {
        self.steps.iter().filter(|step| !step.ok).collect()
    }

    /// The whole outcome as one JSON document.
    pub fn to_json(&self) -> Value {
        json!({"ok": self.ok(), "steps": self.steps})
    }
}

/// A compact JWS's header and claims, decoded; the signature is left out, and so is the
/// raw token.
pub(super) fn decode(compact: &str) -> Option<Value> {
    let mut parts = compact.split('.');
    let header = part(parts.next()?)?;
    let claims = part(parts.next()?)?;
    Some(json!({"header": header, "claims": claims}))
}

/// A compact JWS's claims.
pub(super) fn claims(compact: &str) -> Option<Value> {
    part(compact.split('.').nth(1)?)
}

fn part(segment: &str) -> Option<Value> {
    serde_json::from_slice(&base64url_decode(segment)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_who_refused_and_colour_only_when_asked() {
        let step = StepRecord::refused(
            "bearer-downgrade",
            "guard",
            "the token as Bearer",
            401,
            Some("DPoP error=\"invalid_token\"".into()),
            true,
        );
        let plain = step.line(false);
        assert!(plain.starts_with("ok     bearer-downgrade"), "{plain}");
        assert!(plain.contains("401, WWW-Authenticate: DPoP error=\"invalid_token\""));
        assert!(!plain.contains('\x1b'));
        assert!(step.line(true).contains("\x1b[32m"));
        let outcome = Outcome {
            steps: vec![step, StepRecord::failed("x", "agent", "no".into())],
        };
        assert!(!outcome.ok());
        assert_eq!(outcome.failed()[0].step, "x");
        assert!(!Outcome::default().ok());
    }

    #[test]
    fn tokens_are_shown_decoded_never_raw() {
        // {"alg":"ES256"}.{"sub":"a"}.sig
        let decoded = decode("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln").expect("decoded");
        assert_eq!(decoded["claims"]["sub"], "a");
        assert!(!decoded.to_string().contains("eyJ"));
    }
}

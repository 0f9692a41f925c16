//! The layout of a configuration: which role sections it holds, and the sections that
//! moved. Before the sidecar hosted roles, the guard's listener, upstream and identity
//! headers were the top-level `[listen]`, `[upstream]` and `[identity]`, and the nonce key
//! and replay store sat under `[guard]`; now each role has its own `[ROLE.listen]` and the
//! parts every role shares are top-level. The old places keep working: their values move
//! to the new places at load time, [`super::Config::warnings`] names the new place, and a
//! section given in both places at once is an error naming both.

use figment::Figment;

use super::ConfigError;
use super::check::Problems;
use super::roles::RoleKind;
use super::{Config, ENV_PREFIX, ENV_SEPARATOR, guard};

/// A section that moved: its old dotted name and its new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Where it was (`listen`).
    pub old: &'static str,
    /// Where it is (`guard.listen`).
    pub new: &'static str,
}

/// Every section that moved.
pub const MOVED: [Moved; 5] = [
    Moved {
        old: "listen",
        new: guard::LISTEN,
    },
    Moved {
        old: "upstream",
        new: guard::UPSTREAM,
    },
    Moved {
        old: "identity",
        new: guard::IDENTITY,
    },
    Moved {
        old: "guard.nonce",
        new: "nonce",
    },
    Moved {
        old: "guard.replay",
        new: "replay",
    },
];

/// A moved section found at its old place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OldPlace {
    moved: Moved,
    /// Whether the value came from the environment rather than the file.
    from_environment: bool,
}

/// What the layout of one configuration is, worked out from the merged sources before the
/// values are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Layout {
    /// The role sections present, in [`RoleKind::ALL`] order.
    pub(super) roles: Vec<RoleKind>,
    /// The moved sections given at their old place.
    old_places: Vec<OldPlace>,
}

impl Layout {
    /// The layout of `figment`; a section given at both its old and its new place is an
    /// error naming both.
    pub(super) fn of(figment: &Figment) -> Result<Layout, ConfigError> {
        let mut old_places = Vec::new();
        for moved in MOVED {
            if !figment.contains(moved.old) {
                continue;
            }
            let old_from_environment = from_environment(figment, moved.old);
            if figment.contains(moved.new) {
                return Err(ConfigError::new(
                    moved.new,
                    format!(
                        "{} and {} are both given; {} is the old place of [{}]: move its keys \
                         into [{}] and remove it",
                        place(moved.new, from_environment(figment, moved.new)),
                        place(moved.old, old_from_environment),
                        place(moved.old, old_from_environment),
                        moved.new,
                        moved.new,
                    ),
                ));
            }
            old_places.push(OldPlace {
                moved,
                from_environment: old_from_environment,
            });
        }
        let roles = RoleKind::ALL
            .iter()
            .copied()
            .filter(|role| {
                let section = role.section();
                // An old-place section of a role (`[listen]` is the guard's) counts as the
                // role's section: it cannot mean anything else.
                figment.contains(section)
                    || old_places
                        .iter()
                        .any(|old| old.moved.new.split('.').next() == Some(section))
            })
            .collect();
        Ok(Layout { roles, old_places })
    }

    /// A warning per section read from its old place, naming the new one.
    pub(super) fn warn(&self, problems: &mut Problems) {
        for old in &self.old_places {
            let Moved { old: from, new: to } = old.moved;
            let problem = if old.from_environment {
                format!(
                    "{} is the old form of {}: rename the variables (still read, as [{to}])",
                    env_name(from),
                    env_name(to)
                )
            } else {
                format!(
                    "[{from}] is the old place of [{to}]: move its keys there (still read, as [{to}])"
                )
            };
            problems.warn(from, problem);
        }
    }

    /// Whether `moved` was given at its old place.
    fn moved(&self, moved: Moved) -> bool {
        self.old_places.iter().any(|old| old.moved == moved)
    }
}

/// Moves the sections given at their old place to their new one, and tells each moved
/// table where it was read from, so that its problems name the field as written.
pub(super) fn settle(config: &mut Config, layout: Layout) {
    let [listen, upstream, identity, nonce, replay] = MOVED;
    let guard = &mut config.guard;
    guard.listen = match config.legacy_listen.take() {
        Some(old) => old,
        None => std::mem::take(&mut guard.listen),
    };
    guard.listen.table = table(&layout, listen);
    guard.upstream = match config.legacy_upstream.take() {
        Some(old) => old,
        None => std::mem::take(&mut guard.upstream),
    };
    guard.upstream.table = table(&layout, upstream);
    guard.identity = match config.legacy_identity.take() {
        Some(old) => old,
        None => std::mem::take(&mut guard.identity),
    };
    guard.identity.table = table(&layout, identity);
    if let Some(old) = guard.legacy_nonce.take() {
        config.nonce = old;
    }
    config.nonce.table = table(&layout, nonce);
    if let Some(old) = guard.legacy_replay.take() {
        config.replay = old;
    }
    config.replay.table = table(&layout, replay);
    config.layout = layout;
}

fn table(layout: &Layout, moved: Moved) -> &'static str {
    if layout.moved(moved) {
        moved.old
    } else {
        moved.new
    }
}

/// Whether the value at `key` came from the environment.
fn from_environment(figment: &Figment, key: &str) -> bool {
    figment
        .find_metadata(key)
        .is_some_and(|metadata| metadata.name.contains("environment"))
}

/// `[listen]`, or `MCP_WARDEN_LISTEN__*` when it came from the environment.
fn place(key: &str, from_environment: bool) -> String {
    if from_environment {
        env_name(key)
    } else {
        format!("[{key}]")
    }
}

/// `MCP_WARDEN_GUARD__LISTEN__*`.
fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}{ENV_SEPARATOR}*",
        key.replace('.', ENV_SEPARATOR).to_uppercase()
    )
}

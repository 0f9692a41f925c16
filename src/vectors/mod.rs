//! The test-vector runner: reads `resource-vectors/1` files and runs each vector through
//! [`ResourceVerifier`](crate::guard::ResourceVerifier), the code path the middleware uses.
//!
//! ```no_run
//! # async fn run() {
//! let report = mcp_warden::vectors::run_paths(&["test-vectors".into()]).await;
//! println!("{report}");
//! assert!(report.success());
//! # }
//! ```

mod format;
mod runner;

pub use format::{
    AccessTokensConfig, Expectation, RESOURCE_VECTORS_FORMAT, Vector, VectorConfig, VectorFile,
    VectorRequest,
};
pub use runner::{
    Detail, Observed, Report, VectorConfigError, VectorFileError, VectorOutcome, build_verifier,
    expand_paths, load_file, parse_file, run_file, run_paths, run_paths_with, run_vector,
};

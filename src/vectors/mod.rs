//! The test-vector runner: reads `resource-vectors/1` files and runs each vector through
//! [`ResourceVerifier`](crate::guard::ResourceVerifier), the code path the middleware uses,
//! and `workload-vectors/1` files through
//! [`TokenEndpoint::exchange`](crate::issuer::TokenEndpoint::exchange), the code path of
//! the issuer's token service. A file's `format` field picks the runner.
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
mod workload;
mod workload_format;

pub use format::{
    AccessTokensConfig, Expectation, RESOURCE_VECTORS_FORMAT, Vector, VectorConfig, VectorFile,
    VectorRequest,
};
pub use runner::{
    Detail, Observed, Report, VectorConfigError, VectorFileError, VectorOutcome, build_verifier,
    expand_paths, load_file, parse_file, run_file, run_paths, run_paths_with, run_vector,
};
pub use workload::{
    AnyVectorFile, Issued, WorkloadConfigError, WorkloadObserved, WorkloadOutcome, build_endpoint,
    load_any_file, parse_any_file, parse_workload_file, run_workload_file, run_workload_vector,
};
pub use workload_format::{
    TrustedIssuerConfig, WORKLOAD_VECTORS_FORMAT, WorkloadConfig, WorkloadExpectation,
    WorkloadRequest, WorkloadVector, WorkloadVectorFile,
};

//! A minimal MCP server stand-in for load runs (`benches/load.sh`): answers every request
//! with one small JSON-RPC result, after reading the request body. It parses nothing and
//! allocates little, so that in a load run the time goes to the proxy under test rather
//! than to the server behind it.
//!
//! ```sh
//! cargo run --release --example upstream -- --listen 127.0.0.1:3000
//! ```
//!
//! Plain HTTP/1.1 with keep-alive, `TCP_NODELAY` on every connection. It prints
//! `listening on ADDRESS` once bound and runs until killed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark tool: a panic is the failure report.

#[cfg(feature = "sidecar")]
mod server {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use bytes::Bytes;
    use clap::Parser;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper::header::{CONTENT_TYPE, HeaderValue};
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    /// The answer to every request: what an MCP server returns for a `tools/call`.
    const RESULT: &[u8] = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"3"}],"isError":false}}"#;

    /// A fast stand-in for an MCP server.
    #[derive(Debug, Parser)]
    struct Args {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Tokio worker threads. One keeps it from competing with the proxy for both cores.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    }

    async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        // Read the body as a real server would, so the proxy streams it in full.
        let _ = request.into_body().collect().await;
        let mut response = Response::new(Full::new(Bytes::from_static(RESULT)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }

    pub(super) fn main() {
        let args = Args::parse();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads.max(1))
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .unwrap_or_else(|e| panic!("cannot listen on {}: {e}", args.listen));
            println!("listening on {}", listener.local_addr().expect("bound"));
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                        .await;
                });
            }
        });
    }
}

#[cfg(feature = "sidecar")]
fn main() {
    server::main();
}

#[cfg(not(feature = "sidecar"))]
fn main() {
    eprintln!("the upstream example needs the `sidecar` feature (hyper's server)");
    std::process::exit(2);
}

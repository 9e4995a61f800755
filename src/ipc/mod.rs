//! Socket mode: the protocol, the server that shares a database over a Unix domain
//! socket, and the client that implements [`crate::backend::Backend`] by speaking it.
//!
//! - [`protocol`]: frames, opcodes and payload codecs (version 1 and the additions).
//! - [`server`]: `Server::start(backend, socket_path, options)`: `epoll` event loops that
//!   own the connections and commit each round's one-shot writes together, a worker
//!   pool for long requests, limits, peer-credential checks, graceful shutdown.
//! - [`client`]: `Client::connect(path, options)`, a thread-safe remote `Backend`.
//!
//! `docs/protocol.md` describes the protocol byte by byte.

pub mod client;
pub mod protocol;
pub mod server;
pub(crate) mod sys;

pub use sys::PidLock;

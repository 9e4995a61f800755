//! The socket client.

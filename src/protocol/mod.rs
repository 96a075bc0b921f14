//! The WebSocket wire contract as types (PROTOCOL.md, docs/protocol.md): the commands clients send
//! and the replies they get (`commands`), every event the server pushes (`events`), why a socket
//! is closed (`close`), presence statuses with their aggregation rule (`presence`), and which
//! characters text may hold (`text`). The
//! connection actors parse and write these; services build events here and hand them to
//! `service::notify`. Nothing here knows an actor or a broker.

pub mod close;
pub mod commands;
pub mod events;
pub mod presence;
pub mod text;

pub use close::CloseReason;
pub use events::ServerEvent;

//! The local target: the whole system on this machine (a private PostgreSQL cluster, the
//! runtime's api and workers as background processes), driven by `envctl up|down|status|logs`
//! for an environment whose profile says `target: local`.

mod api_client;
mod database;
mod demo_data;
mod down;
mod layout;
mod listening;
mod lock;
mod logs;
mod prerequisites;
mod process;
mod runtime_binary;
mod settings;
mod state;
mod status;
mod up;

pub use down::down;
pub use layout::Layout;
pub use logs::logs;
pub use prerequisites::PackageManager;
pub use state::LocalState;
pub use status::status;
pub use up::up;

//! The live web console: placeholder until the console lands.

use super::http::{Request, Response};
use super::Link;

/// The console's routes (`/`, `/api/*`); `None` for any other path.
pub fn route(_link: &Link, _req: &Request) -> Option<Response> {
    None
}

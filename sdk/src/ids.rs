//! Fresh ids for the records a plugin keeps in its [`state`] (keys `<dir>/<id>`).
//!
//! ```
//! use baseplate_sdk::{ids, state, testing::MockHost};
//! let _host = MockHost::install();
//! let id = ids::new_id("tpl", "tpl");
//! state::set(&format!("tpl/{id}"), b"{}");
//! assert!(id.starts_with("tpl_") && id.len() == 4 + 16);
//! ```

use crate::{host, state};

/// A fresh id `<prefix>_<16 hex digits>` drawn from the host's randomness (so a replayed
/// call draws the same one) that is not yet used under `<dir>/`: no state key
/// `<dir>/<id>` exists. Store the record under that key before drawing the next id.
///
/// Needs the `state` and `host` capabilities.
///
/// ```
/// use baseplate_sdk::{ids, testing::MockHost};
/// let host = MockHost::install();
/// host.set_seed(1);
/// let a = ids::new_id("grp", "group");
/// host.set_seed(1);
/// assert_eq!(ids::new_id("grp", "group"), a, "same seed, same id");
/// ```
pub fn new_id(prefix: &str, dir: &str) -> String {
    loop {
        let id = format!("{prefix}_{:016x}", host::random());
        if state::get(&format!("{dir}/{id}")).is_none() {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    #[test]
    fn skips_ids_in_use() {
        let host = MockHost::install();
        host.set_seed(9);
        let first = new_id("x", "d");
        state::set(&format!("d/{first}"), b"1");
        host.set_seed(9);
        let second = new_id("x", "d");
        assert_ne!(first, second);
        assert!(second.starts_with("x_"));
    }
}

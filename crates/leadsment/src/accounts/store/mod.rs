//! The accounts capability's queries: users, workspaces and memberships, invitations, API
//! keys and sites. Plain functions over [`Db`](crate::store::Db) (reads) and
//! [`Tx`](crate::store::Tx) (writes); the rules (an owner per workspace, the words of every
//! refusal) live in the capability, these only report what the data says.

mod api_keys;
mod invitations;
mod ownership;
mod platform;
mod sites;
mod users;
mod workspaces;

pub use api_keys::*;
pub use invitations::*;
pub use ownership::*;
pub use platform::*;
pub use sites::*;
pub use users::*;
pub use workspaces::*;

use super::roles::Role;
use crate::store::StoreError;

fn parse_role(s: &str) -> Result<Role, StoreError> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown role `{s}`")))
}

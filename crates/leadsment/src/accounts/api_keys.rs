//! API keys: per workspace, shown once, stored as a digest, scoped read or write, revocable.

use serde::Serialize;

use super::WorkspaceId;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s.trim() {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }

    /// A write key may also read.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// The key's first characters, to tell keys apart; not enough to use it.
    pub prefix: String,
    pub scope: Scope,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Keys start with this, so secret scanners and people recognise them.
pub const KEY_PREFIX: &str = "lm_";

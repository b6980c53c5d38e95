use baseplate_store::StoreError;

/// What went wrong, in the words the caller reads. The API maps each variant to a status.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request is malformed or breaks a rule of its own (422).
    #[error("{0}")]
    Invalid(String),
    /// Something it names does not exist in this shop (404).
    #[error("{0}")]
    NotFound(String),
    /// It conflicts with the current state (409): sold out, already paid, key reused.
    #[error("{0}")]
    Conflict(String),
    /// Not allowed for this caller (403).
    #[error("{0}")]
    Forbidden(String),
    /// A plugin refused it with a reason (422).
    #[error("{plugin}: {message}")]
    PluginRefused {
        plugin: String,
        code: &'static str,
        message: String,
    },
    /// A plugin failed (trap, timeout, limit) while the request needed it (424).
    #[error("plugin {plugin} failed: {message}")]
    PluginFailed { plugin: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
    /// Lost a race that a retry resolves (e.g. two requests with one idempotency key).
    #[error("the request raced another one; retry it")]
    Retry,
    /// A plugin's read went stale before its effects could commit: the operation runs
    /// again from its reads (never surfaced as is; see `dispatch`).
    #[error("concurrent changes kept invalidating this request ({0}); retry it")]
    Stale(String),
    /// This shop's earlier requests hold its share of the node; retry shortly (503).
    #[error("{0}")]
    Busy(String),
    /// The database did not answer in time (503).
    #[error("{0}")]
    Unavailable(String),
    /// A registry rule refused the request: `code` names the rule for programs
    /// (`version_exists`, `bad_signature`, …), `details` carries what the caller needs to
    /// fix it (e.g. the capabilities to accept).
    #[error("{message}")]
    Refused {
        kind: Refusal,
        code: &'static str,
        message: String,
        details: Option<serde_json::Value>,
    },
}

/// The kind of a registry refusal; the API maps each to a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request or its package breaks a rule (422).
    Invalid,
    /// It conflicts with what exists (409).
    Conflict,
    /// The caller may not do it (403).
    Forbidden,
    /// The package is too big (413).
    TooLarge,
    /// What it names does not exist (404).
    NotFound,
}

impl CoreError {
    /// A registry refusal without details.
    pub fn refused(kind: Refusal, code: &'static str, message: impl Into<String>) -> CoreError {
        CoreError::Refused {
            kind,
            code,
            message: message.into(),
            details: None,
        }
    }
}

impl CoreError {
    pub fn is_retryable(&self) -> bool {
        match self {
            CoreError::Store(e) => e.is_retryable(),
            CoreError::Retry => true,
            _ => false,
        }
    }
}

impl From<baseplate_domain::LedgerError> for CoreError {
    fn from(e: baseplate_domain::LedgerError) -> Self {
        CoreError::Invalid(e.to_string())
    }
}

impl From<baseplate_domain::TransitionError> for CoreError {
    fn from(e: baseplate_domain::TransitionError) -> Self {
        CoreError::Conflict(e.to_string())
    }
}

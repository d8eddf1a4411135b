//! Decode failures as protocol values.
//!
//! A message either decodes, possibly with RFC 7606 outcomes that keep the session
//! up ([`AttrError`]: attribute discard or treat-as-withdraw, recorded on the
//! `Update`), or fails with a [`DecodeError`] that carries the exact NOTIFICATION to
//! send (session reset) or the family to stop using (AFI/SAFI disable), plus a reason
//! fit for a log line. Nothing here panics or allocates on the success path.

use std::fmt;

use bytes::Bytes;

use super::notification::{ErrorCode, MessageHeaderError, Notification, OpenError, UpdateError};
use crate::types::Family;

/// What to do about a message that cannot be used at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorAction {
    /// Send this NOTIFICATION and close the session (RFC 7606 §2 "session reset").
    SessionReset(Notification),
    /// RFC 7606 §2 "AFI/SAFI disable" (RFC 4760 §7): stop exchanging routes of this
    /// family on the session and drop the UPDATE. A speaker that does not implement it
    /// sends `notification` instead.
    AfiSafiDisable { family: Family, notification: Notification },
}

/// A message that failed to decode: what to do and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    pub action: ErrorAction,
    pub reason: String,
}

impl DecodeError {
    pub fn reset(code: ErrorCode, data: impl Into<Bytes>, reason: impl Into<String>) -> DecodeError {
        DecodeError { action: ErrorAction::SessionReset(Notification::new(code, data)), reason: reason.into() }
    }
    pub(crate) fn header(sub: MessageHeaderError, data: impl Into<Bytes>, reason: impl Into<String>) -> DecodeError {
        DecodeError::reset(ErrorCode::MessageHeader(sub), data, reason)
    }
    pub(crate) fn open(sub: OpenError, data: impl Into<Bytes>, reason: impl Into<String>) -> DecodeError {
        DecodeError::reset(ErrorCode::Open(sub), data, reason)
    }
    pub(crate) fn update(sub: UpdateError, data: impl Into<Bytes>, reason: impl Into<String>) -> DecodeError {
        DecodeError::reset(ErrorCode::Update(sub), data, reason)
    }

    /// The NOTIFICATION to send, whichever the action (AFI/SAFI disable falls back to it).
    pub fn notification(&self) -> &Notification {
        match &self.action {
            ErrorAction::SessionReset(n) | ErrorAction::AfiSafiDisable { notification: n, .. } => n,
        }
    }
}

/// RFC 7606 outcomes that keep the session up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttrAction {
    /// §2 "attribute discard": the attribute is dropped, the routes stand.
    Discard,
    /// §2 "treat-as-withdraw": every prefix the UPDATE announces is handled as if it
    /// had been withdrawn (see `Update::treat_as_withdraw`).
    TreatAsWithdraw,
}

/// One malformed or misplaced attribute, and what was done about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrError {
    pub action: AttrAction,
    /// The attribute type code (0 for a problem of the UPDATE as a whole, such as a
    /// missing mandatory attribute).
    pub type_code: u8,
    pub reason: String,
}

impl fmt::Display for AttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            AttrAction::Discard => "attribute discarded",
            AttrAction::TreatAsWithdraw => "treated as withdraw",
        };
        write!(f, "{} ({action}, RFC 7606)", self.reason)
    }
}

//! How each error of the shared-memory transport classifies, so that a
//! [`TransportError`](crate::TransportError) says what kind of failure it
//! carries.

use iceoryx2::node::NodeCreationFailure;
use iceoryx2::port::listener::{ListenerCreateError, ListenerWaitError};
use iceoryx2::port::notifier::{NotifierCreateError, NotifierNotifyError};
use iceoryx2::port::publisher::PublisherCreateError;
use iceoryx2::port::subscriber::SubscriberCreateError;
use iceoryx2::port::update_connections::ConnectionFailure;
use iceoryx2::port::{LoanError, ReceiveError, SendError};
use iceoryx2::prelude::*;
use iceoryx2::service::builder::event::EventOpenOrCreateError;
use iceoryx2::service::builder::publish_subscribe::PublishSubscribeOpenOrCreateError;
use iceoryx2::service::service_name::ServiceNameError;

use crate::error::{Cause, TransportErrorKind as Kind};

impl Cause for LoanError {
    fn kind(&self) -> Kind {
        match self {
            LoanError::OutOfMemory | LoanError::ExceedsMaxLoanSize => Kind::OutOfMemory,
            LoanError::ExceedsMaxLoans => Kind::LimitReached,
            _ => Kind::Other,
        }
    }
}

impl Cause for SendError {
    fn kind(&self) -> Kind {
        match self {
            SendError::LoanError(loan) => loan.kind(),
            SendError::ConnectionError(connection) => connection.kind(),
            SendError::ConnectionBrokenSinceSenderNoLongerExists => Kind::PeerGone,
            SendError::UnableToDeliver => Kind::QueueFull,
            _ => Kind::Other,
        }
    }
}

impl Cause for ReceiveError {
    fn kind(&self) -> Kind {
        match self {
            ReceiveError::ExceedsMaxBorrows => Kind::LimitReached,
            ReceiveError::ConnectionFailure(connection) => connection.kind(),
        }
    }
}

impl Cause for ConnectionFailure {
    /// The receiver maps a sender's memory when it connects: that memory
    /// is gone when the sender is.
    fn kind(&self) -> Kind {
        match self {
            ConnectionFailure::UnableToMapSendersDataSegment(_) => Kind::PeerGone,
            _ => Kind::Other,
        }
    }
}

impl Cause for ListenerWaitError {
    fn kind(&self) -> Kind {
        match self {
            ListenerWaitError::InterruptSignal => Kind::Interrupted,
            _ => Kind::Other,
        }
    }
}

impl Cause for NotifierNotifyError {}

impl Cause for PublisherCreateError {
    fn kind(&self) -> Kind {
        match self {
            PublisherCreateError::ExceedsMaxSupportedPublishers => Kind::LimitReached,
            PublisherCreateError::UnableToCreateDataSegment => Kind::OutOfMemory,
            _ => Kind::Other,
        }
    }
}

impl Cause for SubscriberCreateError {
    fn kind(&self) -> Kind {
        match self {
            SubscriberCreateError::ExceedsMaxSupportedSubscribers => Kind::LimitReached,
            _ => Kind::Other,
        }
    }
}

impl Cause for ListenerCreateError {
    fn kind(&self) -> Kind {
        match self {
            ListenerCreateError::ExceedsMaxSupportedListeners => Kind::LimitReached,
            _ => Kind::Other,
        }
    }
}

impl Cause for NotifierCreateError {
    fn kind(&self) -> Kind {
        match self {
            NotifierCreateError::ExceedsMaxSupportedNotifiers => Kind::LimitReached,
            _ => Kind::Other,
        }
    }
}

impl Cause for PublishSubscribeOpenOrCreateError {}
impl Cause for EventOpenOrCreateError {}
impl Cause for NodeCreationFailure {}

impl Cause for SemanticStringError {
    fn kind(&self) -> Kind {
        Kind::BadName
    }
}

impl Cause for ServiceNameError {
    fn kind(&self) -> Kind {
        Kind::BadName
    }
}

impl Cause for std::io::Error {
    fn kind(&self) -> Kind {
        match self.kind() {
            std::io::ErrorKind::OutOfMemory | std::io::ErrorKind::StorageFull => Kind::OutOfMemory,
            _ => Kind::Other,
        }
    }
}

//! What Tauri manages: the device session (which owns streams, pending requests, links, logos
//! and settings; see `assent_device::DeviceSession`) and the one piece of window state the
//! shell keeps itself, an enrollment deep link waiting for the person to confirm it.
//!
//! A link is parsed by Rust the moment it arrives: a malformed one (a repeated or unknown
//! parameter, a user part in the server address, ...) is refused with a notice and never
//! offered; a good one is offered as an [`EnrollOffer`], with the host as parsed here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use assent_device::view::{EnrollOffer, ErrorView, SessionEvent, events};
use assent_device::{
    Authenticator, DeviceSession, Error, SecretStore, SessionConfig, SessionEvents, StreamConfig,
};
use tauri::{AppHandle, Emitter as _, Runtime};

/// The desktop's managed state.
#[derive(Debug)]
pub struct Desktop {
    /// The running device.
    pub session: DeviceSession,
    offered_link: Mutex<Option<EnrollOffer>>,
}

/// The device name this desktop enrolls under.
pub fn device_name() -> String {
    format!("{} (desktop)", assent_device::host_name())
}

impl Desktop {
    /// Opens the session over `data_dir` with `secrets` holding the keys; the shell forwards its
    /// events to the UI, the tray and notifications.
    ///
    /// # Errors
    /// The data directory cannot be used.
    pub fn open(
        data_dir: PathBuf,
        secrets: Arc<dyn SecretStore>,
        streams: StreamConfig,
    ) -> Result<(Self, SessionEvents), Error> {
        let auth = Authenticator::open_with(data_dir, secrets, streams)?;
        let (session, events) = DeviceSession::open(auth, SessionConfig::from_env()?)?;
        Ok((
            Desktop {
                session,
                offered_link: Mutex::new(None),
            },
            events,
        ))
    }

    /// Reads a link that arrived from outside: a well-formed one is remembered and offered to
    /// the UI (the window brought forward); any other is refused with a notice (the window
    /// brought forward too, so the person sees why nothing happened).
    pub fn offer_enroll_link<R: Runtime>(&self, app: &AppHandle<R>, link: &str) {
        crate::window::show_main(app);
        match self.session.offer(link) {
            Ok(offer) => {
                *self.offered_link.lock().unwrap_or_else(|p| p.into_inner()) = Some(offer.clone());
                let _ = app.emit(events::ENROLL_LINK, offer);
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused an enrollment link");
                let error = ErrorView::from(e);
                let _ = app.emit(
                    events::SESSION,
                    SessionEvent::Notice {
                        code: error.code,
                        message: error.message,
                    },
                );
            }
        }
    }

    /// The link waiting for confirmation, handed over once.
    pub fn take_offered_link(&self) -> Option<EnrollOffer> {
        self.offered_link
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

//! What Tauri manages: the device session (which owns streams, pending requests, links, logos
//! and settings; see `assent_device::DeviceSession`) and the one piece of window state the
//! shell keeps itself, an enrollment deep link waiting for the person to confirm it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use assent_device::view::events;
use assent_device::{
    Authenticator, DeviceSession, Error, SecretStore, SessionConfig, SessionEvents, StreamConfig,
};
use tauri::{AppHandle, Emitter as _, Runtime};

/// The desktop's managed state.
#[derive(Debug)]
pub struct Desktop {
    /// The running device.
    pub session: DeviceSession,
    offered_link: Mutex<Option<String>>,
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
        let (session, events) = DeviceSession::open(auth, SessionConfig::default())?;
        Ok((
            Desktop {
                session,
                offered_link: Mutex::new(None),
            },
            events,
        ))
    }

    /// Remembers a deep link, brings the window forward and tells the UI.
    pub fn offer_enroll_link<R: Runtime>(&self, app: &AppHandle<R>, link: String) {
        *self.offered_link.lock().unwrap_or_else(|p| p.into_inner()) = Some(link.clone());
        crate::window::show_main(app);
        let _ = app.emit(events::ENROLL_LINK, link);
    }

    /// The link waiting for confirmation, handed over once.
    pub fn take_offered_link(&self) -> Option<String> {
        self.offered_link
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

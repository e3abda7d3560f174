//! The real desktop app under Xvfb.

mod focus;
mod hostile;
mod notification;
mod smoke;
mod tray;

/// Tests whose app raises notifications run one at a time: the notification test counts every
/// `Notify` call on the session bus, and the tests of this binary run on parallel threads.
pub static NOTIFYING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`NOTIFYING`] (a test that failed while holding it does not fail the others).
pub fn one_notifying_app() -> std::sync::MutexGuard<'static, ()> {
    NOTIFYING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

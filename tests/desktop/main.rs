//! The real desktop app under Xvfb.

mod focus;
mod hostile;
mod notification;
mod smoke;
mod tray;

/// Tests whose app raises notifications or shows its window run one at a time: the notification
/// test counts every `Notify` call on the session bus, the focus test asserts which window has
/// the X input focus (an app launched with its window takes it), and the tests of this binary run
/// on parallel threads.
pub static NOTIFYING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`NOTIFYING`] (a test that failed while holding it does not fail the others).
pub fn one_notifying_app() -> std::sync::MutexGuard<'static, ()> {
    NOTIFYING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

/// Starts the built app (`args`: `--hidden` to start in the tray) as `device`'s person, logging
/// to `log`; killed when dropped.
pub fn start_app(
    device: &assent_testkit::process::HeadlessDevice,
    args: &[&str],
    log: &std::path::Path,
) -> assent_testkit::process::KillOnDrop {
    let file = std::fs::File::create(log).unwrap();
    assent_testkit::process::KillOnDrop(
        std::process::Command::new(assent_testkit::process::built_binary("assent-desktop"))
            .args(args)
            .env("ASSENT_DATA_DIR", &device.data_dir)
            .env("ASSENT_KEYRING_SERVICE", &device.keyring_service)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap(),
    )
}

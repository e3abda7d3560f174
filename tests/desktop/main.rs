//! The real desktop app under Xvfb.

mod hostile;
mod notification;
mod smoke;
mod tray;

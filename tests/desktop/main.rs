//! The real desktop app under Xvfb.

mod notification;
mod smoke;
mod tray;

//! The real desktop app under Xvfb.

mod smoke;

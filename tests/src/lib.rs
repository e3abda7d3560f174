//! The cross-process test binaries live beside this file (`desktop/`, `service/`, `e2e/`, `acme/`,
//! `cluster/`); what they share is the workspace's one test kit, `crates/testkit`
//! (`assent_testkit::process` for processes, the virtual display and the desktop app).

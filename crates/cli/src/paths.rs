//! Where things live by default.

use std::path::PathBuf;

use anyhow::Context as _;

/// The platform data directory for Assent (`~/.local/share/assent` on Linux).
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("dev", "assent", "assent").context(
        "cannot find a home directory for the default data directory; pass one explicitly",
    )?;
    Ok(dirs.data_dir().to_path_buf())
}

/// The database URL to use: the one given, or a SQLite file in the data directory.
pub fn database_url(given: Option<String>) -> anyhow::Result<String> {
    if let Some(url) = given {
        return Ok(url);
    }
    let dir = default_data_dir()?;
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // The database holds the service signing key: keep the directory private to the user.
        #[cfg(unix)]
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .with_context(|| format!("making {} private", dir.display()))?;
    }
    Ok(format!("sqlite://{}", dir.join("assent.db").display()))
}

//! The `assent:` handler an AppImage (or a development build) registers for the person.
//!
//! `tauri-plugin-deep-link` writes `<binary>-handler.desktop` into the person's
//! `$XDG_DATA_HOME/applications` with `Exec="<path>" %u`. The quotes are valid desktop-entry
//! syntax, but the `xdg-open` of Debian 12 (xdg-utils 1.1.3, the fallback used outside GNOME and
//! KDE) takes the first word of `Exec` with its quotes, finds no such program and fails, so
//! `assent://` links from a browser never arrive. Where the path needs no quoting (no reserved
//! character, see the Desktop Entry Specification, "The Exec key") the quotes are dropped, which
//! every `xdg-open` understands; a path that does need them is left as the plugin wrote it.
//!
//! Failure mode: a file that cannot be read or written is reported to the caller and left as
//! it was (the rewrite goes through a temporary file and a rename).

use std::path::Path;

/// Characters that force quoting in an `Exec` argument (Desktop Entry Specification), and `%`,
/// which would start a field code.
const RESERVED: &[char] = &[
    ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(', ')',
    '`', '%',
];

/// The desktop entry with `Exec="<path>" <rest>` written as `Exec=<path> <rest>`, when the path
/// needs no quoting; `None` when nothing should change.
pub fn without_needless_quotes(entry: &str) -> Option<String> {
    let mut changed = false;
    let lines: Vec<String> = entry
        .lines()
        .map(|line| {
            let plain = line
                .strip_prefix("Exec=\"")
                .and_then(|rest| rest.split_once('"'))
                .filter(|(path, _)| path.starts_with('/') && !path.contains(RESERVED))
                .map(|(path, rest)| format!("Exec={path}{rest}"));
            match plain {
                Some(plain) => {
                    changed = true;
                    plain
                }
                None => line.to_owned(),
            }
        })
        .collect();
    changed.then(|| {
        let mut out = lines.join("\n");
        if entry.ends_with('\n') {
            out.push('\n');
        }
        out
    })
}

/// Drops needless quotes from the `Exec` line of the desktop entry at `path` (see the module
/// documentation). A missing file is not an error: nothing was registered there.
pub fn unquote_exec(path: &Path) -> std::io::Result<()> {
    let entry = match std::fs::read_to_string(path) {
        Ok(entry) => entry,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some(plain) = without_needless_quotes(&entry) else {
        return Ok(());
    };
    let temporary = path.with_extension("desktop.new");
    std::fs::write(&temporary, plain)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITTEN: &str = "[Desktop Entry]\nType=Application\nName=Assent\n\
        Exec=\"/home/ann/Applications/Assent.AppImage\" %u\nTerminal=false\n\
        MimeType=x-scheme-handler/assent\nNoDisplay=true\n";

    #[test]
    fn a_path_without_reserved_characters_loses_its_quotes() {
        let plain = without_needless_quotes(WRITTEN).expect("the Exec line changes");
        assert!(
            plain
                .lines()
                .any(|l| l == "Exec=/home/ann/Applications/Assent.AppImage %u"),
            "Exec names the path unquoted, field code kept: {plain}"
        );
        assert_eq!(
            plain.replace("Exec=/home/ann/Applications/Assent.AppImage %u", ""),
            WRITTEN.replace("Exec=\"/home/ann/Applications/Assent.AppImage\" %u", ""),
            "nothing but the Exec line changes"
        );
    }

    #[test]
    fn a_path_that_needs_quotes_keeps_them() {
        for path in [
            "/home/ann/My Apps/Assent.AppImage",
            "/home/ann/$HOME/Assent.AppImage",
            "/home/ann/100%/Assent.AppImage",
            "/home/o'neil/Assent.AppImage",
            "relative/Assent.AppImage",
        ] {
            let entry = WRITTEN.replace("/home/ann/Applications/Assent.AppImage", path);
            assert_eq!(
                without_needless_quotes(&entry),
                None,
                "{path} must stay quoted"
            );
        }
    }

    #[test]
    fn an_entry_already_plain_is_left_alone() {
        let plain = without_needless_quotes(WRITTEN).unwrap();
        assert_eq!(without_needless_quotes(&plain), None);
    }

    #[test]
    fn the_file_is_rewritten_in_place_and_a_missing_one_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("assent-desktop-handler.desktop");
        unquote_exec(&path).expect("no file, nothing to do");
        assert!(!path.exists(), "nothing is created");
        std::fs::write(&path, WRITTEN).unwrap();
        unquote_exec(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            without_needless_quotes(WRITTEN).unwrap()
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }
}

//! The desktop .deb and the AppImage: installed, started under Xvfb, handed an enrollment link
//! by `xdg-open` as a browser would, enrolled against a running service, then removed without
//! a trace outside the person's data.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use assent_testkit::process::{AssentService, LogsOnFailure, artifacts_dir, require_session};

use crate::driver::AppSession;
use crate::support::{
    VERSION, apt_get, artefact, desktop_settings, file_system, left_behind, output, png_size,
    require_root, run,
};

/// Icon sizes desktops ask the hicolor theme for (menus, docks, launchers, the About box).
const ICON_SIZES: &[u32] = &[16, 24, 32, 48, 64, 128, 256, 512];

/// A person's session: their data directories (inside the test's temporary directory), a
/// keychain namespace of their own, the display and bus of scripts/session.
struct Person {
    home: tempfile::TempDir,
    keyring: String,
    /// More of the session's environment (the AppImage's `APPIMAGE_EXTRACT_AND_RUN`).
    more: Vec<(&'static str, String)>,
}

impl Person {
    fn new() -> Person {
        Person {
            home: tempfile::tempdir().unwrap(),
            keyring: format!("assent-test-{}", uuid::Uuid::new_v4()),
            more: Vec::new(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.home.path().join("assent")
    }

    /// Where this person's own files are (what a removal may leave): their home, and the
    /// session's cache and runtime directories (Mesa's shader cache, the app's single-instance
    /// socket); plus `work`, the test's own temporary directory.
    fn own_data(&self, work: &Path) -> Vec<PathBuf> {
        let mut dirs = vec![self.home.path().to_path_buf(), work.to_path_buf()];
        // Also the test run's own PostgreSQL cluster (scripts/test starts it before these
        // tests; it writes under /tmp while they run): not the package's either.
        for var in ["XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "ASSENT_PG_DIR"] {
            if let Some(dir) = std::env::var_os(var) {
                dirs.push(PathBuf::from(dir));
            }
        }
        dirs
    }

    fn xdg_data_home(&self) -> PathBuf {
        self.home.path().join("share")
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ASSENT_DATA_DIR", self.data_dir().display().to_string()),
            ("ASSENT_KEYRING_SERVICE", self.keyring.clone()),
            ("ASSENT_LOG", "info".to_owned()),
            ("XDG_DATA_HOME", self.xdg_data_home().display().to_string()),
            ("HOME", self.home.path().display().to_string()),
        ]
        .into_iter()
        .chain(self.more.iter().cloned())
        .collect()
    }

    /// `xdg-open LINK` in this person's session, as a browser hands over an unknown scheme.
    fn xdg_open(&self, link: &str) {
        let mut command = Command::new("xdg-open");
        command.arg(link);
        for (k, v) in self.env() {
            command.env(k, v);
        }
        let out = output(&mut command);
        assert!(
            out.status.success(),
            "xdg-open {link} should find the assent: handler: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Starts `application` under WebDriver for `person`, hands it `link` through xdg-open, and
/// confirms the enrollment in its window; answers the session.
async fn enroll_through_xdg_open(
    application: &Path,
    person: &Person,
    service: &AssentService,
    shots: PathBuf,
    log: &Path,
) -> AppSession {
    let env = person.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut app = AppSession::start_app(application, &env, shots, log).await;
    app.el("enroll-input").await;
    app.shot("started").await;
    let user = service.user(&format!("{}@acme.example", uuid::Uuid::new_v4()));
    let link = service.enroll_link(user);
    person.xdg_open(&link);
    app.wait_text("offered-server", &service.url).await;
    app.shot("link-received").await;
    app.click("enroll-button").await;
    app.click("preview-enroll").await;
    app.wait_text("flash", "This computer now approves for Acme Bank.")
        .await;
    app.shot("enrolled").await;
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn the_desktop_deb_installs_handles_enroll_links_and_removes_cleanly() {
    require_session();
    require_root();
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let deb = artefact("desktop", ".deb");
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        name,
        format!("Assent_{VERSION}_amd64.deb"),
        "the package name carries the workspace version"
    );
    let field = |f: &str| {
        run(Command::new("dpkg-deb").args(["-f", deb.to_str().unwrap(), f]))
            .trim()
            .to_owned()
    };
    assert_eq!(field("Package"), "assent");
    assert_eq!(field("Version"), VERSION);

    let person = Person::new();
    let work = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("package/deb");
    let before = file_system(&person.own_data(work.path()));
    // A previous run that failed half-way may have left it installed.
    let _ = output(Command::new("dpkg").args(["--purge", "assent"]));
    apt_get(&["install", deb.to_str().unwrap()]);

    // What the package installs: the binary, the desktop entry for assent: links, the icons.
    let listed = run(Command::new("dpkg").args(["-L", "assent"]));
    assert!(
        listed.lines().any(|l| l == "/usr/bin/assent-desktop"),
        "{listed}"
    );
    // The polkit action user verification asks for, as packaged (auth_self, nothing kept).
    let policy = "/usr/share/polkit-1/actions/dev.assent.approve.policy";
    assert!(
        listed.lines().any(|l| l == policy),
        "the package installs {policy}: {listed}"
    );
    assert_eq!(
        std::fs::read(policy).ok(),
        std::fs::read(assent_testkit::polkit::packaged_policy()).ok(),
        "the installed polkit policy is the packaged one"
    );
    let entry = Path::new("/usr/share/applications/Assent.desktop");
    let desktop_file =
        std::fs::read_to_string(entry).expect("the package installs a desktop entry");
    assert!(
        desktop_file
            .lines()
            .any(|l| l.starts_with("MimeType=") && l.contains("x-scheme-handler/assent")),
        "the desktop entry declares the assent: scheme: {desktop_file}"
    );
    run(Command::new("desktop-file-validate").arg(entry));
    for size in ICON_SIZES {
        let icon = PathBuf::from(format!(
            "/usr/share/icons/hicolor/{size}x{size}/apps/assent-desktop.png"
        ));
        assert!(
            icon.is_file(),
            "an icon at {size}x{size}: {}",
            icon.display()
        );
        assert_eq!(png_size(&icon), (*size, *size), "{}", icon.display());
    }
    let default =
        run(Command::new("xdg-mime").args(["query", "default", "x-scheme-handler/assent"]));
    assert_eq!(
        default.trim(),
        "Assent.desktop",
        "the installed desktop entry handles assent: links"
    );

    // Runtime dependencies: every library the installed binary links comes from a package the
    // .deb depends on (and the tray library, loaded at run time).
    let depends = field("Depends");
    for package in linked_packages(Path::new("/usr/bin/assent-desktop")) {
        assert!(
            depends
                .split(',')
                .any(|d| d.trim().split(' ').next() == Some(package.as_str())),
            "the .deb depends on {package} (the binary links a library of it): {depends}"
        );
    }
    for package in [
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
        "libayatana-appindicator3-1",
    ] {
        assert!(
            depends.contains(package),
            "Depends names {package}: {depends}"
        );
    }

    // The installed app under Xvfb receives a link opened with xdg-open and enrolls.
    let service = AssentService::start(work.path(), &[]);
    desktop_settings(&person.data_dir(), false);
    let log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), log.clone()]);
    let mut app = enroll_through_xdg_open(
        Path::new("/usr/bin/assent-desktop"),
        &person,
        &service,
        shots.clone(),
        &log,
    )
    .await;
    app.click("tab-settings").await;
    app.wait_text("about-line", &format!("Assent {VERSION}"))
        .await;
    app.shot("about").await;
    let written = std::fs::read_dir(person.xdg_data_home().join("applications"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        written, 0,
        "the installed app writes no desktop entry of its own at start (the package has one)"
    );
    drop(app);

    apt_get(&["purge", "assent"]);
    drop(service);
    let after = file_system(&person.own_data(work.path()));
    let left = left_behind(&before, &after);
    assert!(
        left.is_empty(),
        "removing the package leaves nothing outside the person's data: {left:#?}"
    );
}

/// The package that installed `library`. With /lib a link to /usr/lib (merged /usr, Debian
/// 12), ldd may name a library by the path its package did not ship, so both are asked.
fn owning_package(library: &str) -> Option<String> {
    let other = match library.strip_prefix("/usr") {
        Some(rest) if rest.starts_with("/lib") => rest.to_owned(),
        _ => format!("/usr{library}"),
    };
    [library, other.as_str()].into_iter().find_map(|path| {
        let out = output(Command::new("dpkg").args(["-S", path]));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let package = text.split(':').next()?.trim().to_owned();
        (out.status.success() && !package.is_empty()).then_some(package)
    })
}

/// The Debian packages of the libraries `binary` links directly (its NEEDED entries, found
/// where ldd resolves them): what its Depends must name. Libraries those pull in are their
/// packages' dependencies, not ours.
fn linked_packages(binary: &Path) -> Vec<String> {
    let needed: Vec<String> = run(Command::new("objdump").arg("-p").arg(binary))
        .lines()
        .filter_map(|l| l.trim().strip_prefix("NEEDED")?.trim().to_owned().into())
        .collect();
    assert!(
        !needed.is_empty(),
        "objdump lists what {} needs",
        binary.display()
    );
    let ldd = run(Command::new("ldd").arg(binary));
    let mut packages: Vec<String> = ldd
        .lines()
        .filter_map(|l| {
            let (soname, path) = l.trim().split_once(" => ")?;
            needed
                .iter()
                .any(|n| n == soname.trim())
                .then(|| path.split(' ').next().map(str::to_owned))?
        })
        .filter(|p| p.starts_with('/'))
        .map(|lib| owning_package(&lib).unwrap_or_else(|| panic!("no package installed {lib}")))
        .collect();
    packages.sort();
    packages.dedup();
    assert!(
        packages.iter().any(|p| p.starts_with("libwebkit2gtk")),
        "the binary links WebKitGTK: {packages:?}"
    );
    packages
}

#[tokio::test(flavor = "multi_thread")]
async fn the_appimage_runs_without_fuse_handles_enroll_links_and_leaves_nothing() {
    require_session();
    require_root();
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let appimage = artefact("desktop", ".AppImage");
    assert_eq!(
        appimage.file_name().unwrap().to_string_lossy(),
        format!("Assent_{VERSION}_amd64.AppImage"),
        "the AppImage's name carries the workspace version"
    );
    let mut person = Person::new();
    // FUSE is missing in this container: the runtime extracts itself and runs (as it would on
    // any machine without FUSE when this variable is set). The app and every launch xdg-open
    // makes of the AppImage get it.
    person
        .more
        .push(("APPIMAGE_EXTRACT_AND_RUN", "1".to_owned()));
    let work = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("package/appimage");
    let before = file_system(&person.own_data(work.path()));

    // "Installing" an AppImage is putting it somewhere and making it executable.
    let installed = person.home.path().join("Applications/Assent.AppImage");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::copy(&appimage, &installed).unwrap();
    run(Command::new("chmod").args(["+x", installed.to_str().unwrap()]));

    let service = AssentService::start(work.path(), &[]);
    desktop_settings(&person.data_dir(), false);
    let log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), log.clone()]);
    let mut app = enroll_through_xdg_open(&installed, &person, &service, shots.clone(), &log).await;
    app.click("tab-settings").await;
    app.wait_text("about-line", &format!("Assent {VERSION}"))
        .await;
    app.shot("about").await;
    // Quit the app itself, not its AppImage runtime: the runtime deletes what it extracted
    // once the app has exited. The WebDriver session ends after that (ending it first would
    // end the runtime before it cleans up).
    crate::support::end_extracted_apps();
    let mut left = Vec::new();
    for _ in 0..300 {
        left = left_behind(&before, &file_system(&person.own_data(work.path())));
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        left.is_empty(),
        "the AppImage's runtime removes what it extracted once the app exits: {left:#?}"
    );
    drop(app);
    std::fs::remove_file(&installed).unwrap();
    drop(service);
    let after = file_system(&person.own_data(work.path()));
    let left = left_behind(&before, &after);
    assert!(
        left.is_empty(),
        "an AppImage leaves nothing outside the person's data: {left:#?}"
    );
}

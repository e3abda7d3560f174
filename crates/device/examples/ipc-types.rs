//! Writes, or checks, the desktop UI's generated TypeScript (`ui/src/lib/generated/ipc.ts`).
//!
//! ```sh
//! cargo run -p assent-device --example ipc-types -- ui/src/lib/generated/ipc.ts          # write
//! cargo run -p assent-device --example ipc-types -- --check ui/src/lib/generated/ipc.ts  # CI
//! ```
//!
//! `--check` exits 1, naming the file and the first differing line, when the file is not what
//! the Rust types generate now; it never writes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.first().is_some_and(|a| a == "--check");
    if check {
        args.remove(0);
    }
    let [path] = args.as_slice() else {
        eprintln!("usage: ipc-types [--check] PATH");
        return ExitCode::from(64);
    };
    let generated = assent_device::view::typescript_declarations();
    if check {
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if current == generated {
            return ExitCode::SUCCESS;
        }
        let line = current
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| current.lines().count().min(generated.lines().count()));
        eprintln!(
            "error: {path} is out of date with the Rust types (first difference at line {}):\n  file:      {}\n  generated: {}\nRun `npm run gen:types` in ui/ and commit the result.",
            line + 1,
            current.lines().nth(line).unwrap_or("<end of file>"),
            generated.lines().nth(line).unwrap_or("<end of file>"),
        );
        return ExitCode::from(1);
    }
    if let Some(dir) = std::path::Path::new(path).parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    match std::fs::write(path, generated) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write {path}: {e}");
            ExitCode::from(1)
        }
    }
}

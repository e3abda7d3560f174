//! Copying one-time codes: to the system clipboard on the person's click (the window's Copy
//! button, the tray's "Copy code for ..."), and off it again after [`CLEAR_AFTER`] if it still
//! holds that code (anything the person copied since is left alone).
//!
//! A code is a credential for as long as it is valid: it is computed here from the keychain's
//! seed, written to the clipboard, and never logged, notified or put in a window title. The web
//! view never needs the clipboard (it has no permission to it): it asks Rust to copy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use assent_device::ErrorKind;
use assent_device::view::ErrorView;
use zeroize::Zeroizing;

/// How long a copied code stays in the clipboard: about one code step, after which the code is
/// useless anyway (or nearly: the service accepts one step either side).
pub const CLEAR_AFTER: Duration = Duration::from_secs(30);

/// Plain-text clipboard access: the system's ([`arboard`]) in the app, an in-memory one in unit
/// tests of the clearing rule.
pub trait TextClipboard: Send {
    /// The text it holds, if any (and if it is text).
    fn text(&mut self) -> Option<String>;
    /// Replaces its content with `text`.
    ///
    /// # Errors
    /// What the platform reported.
    fn set_text(&mut self, text: &str) -> Result<(), String>;
    /// Empties it.
    ///
    /// # Errors
    /// What the platform reported.
    fn clear(&mut self) -> Result<(), String>;
}

impl TextClipboard for arboard::Clipboard {
    fn text(&mut self) -> Option<String> {
        self.get_text().ok()
    }

    fn set_text(&mut self, text: &str) -> Result<(), String> {
        arboard::Clipboard::set_text(self, text).map_err(|e| e.to_string())
    }

    fn clear(&mut self) -> Result<(), String> {
        arboard::Clipboard::clear(self).map_err(|e| e.to_string())
    }
}

type Opener = Box<dyn Fn() -> Result<Box<dyn TextClipboard>, String> + Send + Sync>;

/// The clipboard the app copies codes to. Opened on first use and kept open (on X11 the copying
/// process serves the clipboard's content: a closed one would lose it).
pub struct CodeClipboard {
    open: Opener,
    board: Mutex<Option<Box<dyn TextClipboard>>>,
    clear_after: Duration,
}

impl std::fmt::Debug for CodeClipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeClipboard")
            .field("clear_after", &self.clear_after)
            .finish_non_exhaustive()
    }
}

fn unavailable(detail: &str) -> ErrorView {
    ErrorView {
        code: ErrorKind::ClipboardUnavailable,
        message: format!("the clipboard is not available ({detail}); nothing was copied"),
    }
}

impl CodeClipboard {
    /// The system clipboard.
    pub fn system() -> Self {
        Self::with(
            Box::new(|| {
                arboard::Clipboard::new()
                    .map(|b| Box::new(b) as Box<dyn TextClipboard>)
                    .map_err(|e| e.to_string())
            }),
            CLEAR_AFTER,
        )
    }

    /// A clipboard opened by `open`, cleared `clear_after` a copy.
    pub fn with(open: Opener, clear_after: Duration) -> Self {
        CodeClipboard {
            open,
            board: Mutex::new(None),
            clear_after,
        }
    }

    /// How long a copied code stays.
    pub fn clear_after(&self) -> Duration {
        self.clear_after
    }

    fn with_board<T>(
        &self,
        f: impl FnOnce(&mut dyn TextClipboard) -> Result<T, String>,
    ) -> Result<T, ErrorView> {
        let mut board = self.board.lock().unwrap_or_else(|p| p.into_inner());
        if board.is_none() {
            *board = Some((self.open)().map_err(|e| unavailable(&e))?);
        }
        let Some(board) = board.as_mut() else {
            return Err(unavailable("not opened"));
        };
        f(board.as_mut()).map_err(|e| unavailable(&e))
    }

    /// Puts `code` in the clipboard now (blocking: call it off the async runtime's threads).
    ///
    /// # Errors
    /// `clipboard_unavailable`; nothing was copied.
    pub fn put(&self, code: &str) -> Result<(), ErrorView> {
        self.with_board(|b| b.set_text(code))
    }

    /// Empties the clipboard if it still holds `code`; true when it did. Anything else there
    /// (the person copied something since) is left as it is.
    pub fn clear_if_holds(&self, code: &str) -> bool {
        self.with_board(|b| {
            let holds = b.text().is_some_and(|t| *t == *code);
            if holds {
                b.clear()?;
            }
            Ok(holds)
        })
        .unwrap_or(false)
    }

    /// Copies `code` and schedules clearing it after [`CodeClipboard::clear_after`].
    ///
    /// # Errors
    /// `clipboard_unavailable`; nothing was copied.
    pub async fn copy(self: &Arc<Self>, code: Zeroizing<String>) -> Result<(), ErrorView> {
        let board = Arc::clone(self);
        let code = Arc::new(code);
        let copied = Arc::clone(&code);
        tauri::async_runtime::spawn_blocking(move || board.put(&copied))
            .await
            .map_err(|e| unavailable(&e.to_string()))??;
        let board = Arc::clone(self);
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(board.clear_after).await;
            let cleared = tauri::async_runtime::spawn_blocking(move || board.clear_if_holds(&code))
                .await
                .unwrap_or(false);
            tracing::debug!(cleared, "copied code's time in the clipboard is over");
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory clipboard shared with the test, to check the clearing rule itself.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Option<String>>>);

    impl TextClipboard for Memory {
        fn text(&mut self) -> Option<String> {
            self.0.lock().unwrap().clone()
        }
        fn set_text(&mut self, text: &str) -> Result<(), String> {
            *self.0.lock().unwrap() = Some(text.to_owned());
            Ok(())
        }
        fn clear(&mut self) -> Result<(), String> {
            *self.0.lock().unwrap() = None;
            Ok(())
        }
    }

    fn memory_clipboard(clear_after: Duration) -> (Arc<CodeClipboard>, Memory) {
        let memory = Memory::default();
        let opened = memory.clone();
        let board = CodeClipboard::with(
            Box::new(move || Ok(Box::new(opened.clone()) as Box<dyn TextClipboard>)),
            clear_after,
        );
        (Arc::new(board), memory)
    }

    #[test]
    fn only_our_code_is_cleared() {
        let (board, memory) = memory_clipboard(CLEAR_AFTER);
        board.put("123456").unwrap();
        assert_eq!(memory.0.lock().unwrap().as_deref(), Some("123456"));
        *memory.0.lock().unwrap() = Some("the person's own text".into());
        assert!(
            !board.clear_if_holds("123456"),
            "something the person copied since must stay"
        );
        assert_eq!(
            memory.0.lock().unwrap().as_deref(),
            Some("the person's own text")
        );
        board.put("654321").unwrap();
        assert!(board.clear_if_holds("654321"));
        assert_eq!(*memory.0.lock().unwrap(), None, "our code is gone");
    }

    #[tokio::test]
    async fn a_copied_code_leaves_the_clipboard_after_its_time() {
        let (board, memory) = memory_clipboard(Duration::from_millis(200));
        board
            .copy(Zeroizing::new("246810".to_owned()))
            .await
            .unwrap();
        assert_eq!(memory.0.lock().unwrap().as_deref(), Some("246810"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while memory.0.lock().unwrap().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the code should have been cleared after 200 ms"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn a_clipboard_that_cannot_open_is_a_clear_error() {
        let board = CodeClipboard::with(Box::new(|| Err("no display".into())), CLEAR_AFTER);
        let error = board.put("123456").unwrap_err();
        assert_eq!(error.code, ErrorKind::ClipboardUnavailable);
        assert!(
            !error.message.contains("123456"),
            "the code is never in an error: {}",
            error.message
        );
        assert!(!board.clear_if_holds("123456"));
    }

    /// The real X clipboard of the test session (scripts/session runs Xvfb).
    #[test]
    fn the_system_clipboard_takes_the_code_and_gives_it_back_cleared() {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "this test uses the real X clipboard: run it through scripts/session"
        );
        let board = CodeClipboard::system();
        board.put("135790").unwrap();
        let mut reader = arboard::Clipboard::new().unwrap();
        assert_eq!(reader.get_text().unwrap(), "135790");
        assert!(board.clear_if_holds("135790"));
        assert_ne!(
            reader.get_text().ok().as_deref(),
            Some("135790"),
            "the code is gone from the system clipboard"
        );
    }
}

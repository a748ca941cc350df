//! The documented examples: the README's quick start is the axum example that
//! `example_axum` runs, and no loop in the docs or the examples ends at a kind of message
//! it did not expect (a pong, which may come at any time, ended two of them).

use std::{fs, path::Path};

/// The text of `impl Handler for Rooms { .. }` in `text`, up to its closing brace.
fn rooms_handler(text: &str) -> &str {
    let start = text
        .find("impl Handler for Rooms {")
        .expect("an impl Handler for Rooms");
    let end = text[start..].find("\n}\n").expect("its closing brace") + start;
    &text[start..end]
}

#[test]
fn the_readme_quick_start_is_the_axum_example_that_the_tests_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let example = fs::read_to_string(root.join("examples/axum.rs")).unwrap();
    assert_eq!(rooms_handler(&readme), rooms_handler(&example));
}

#[test]
fn no_documented_loop_ends_at_a_message_of_another_kind() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("src"), root.join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            // `while let Some(Ok(Message::Text(t))) = socket.recv().await` stops at the
            // first message that is not text: a pong, a ping, a binary message.
            assert!(
                !line.contains("while let Some(Ok(Message::"),
                "{}:{}: a loop that ends at the first message of another kind: {line}",
                file.display(),
                n + 1
            );
        }
    }
}

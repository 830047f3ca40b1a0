//! Does stems behave as a Unix tool on the command line: a reader that closes stdout
//! early (`stems … | head`) ends the command quietly with exit 0.

use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args([
            "explore",
            "--workload",
            "models/workloads/sew_resnet18_cifar10dvs.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--gb",
            "128KiB",
            "--format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stems");
    // Read a little of the (much longer) output, then hang up like `head -1`.
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("some output");
    let out = child.wait_with_output().expect("stems ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

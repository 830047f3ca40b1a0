//! Helpers shared by the integration tests: the bundled accelerator, and one conv layer
//! (with a proptest strategy) built as a workload file would describe it.
#![allow(dead_code)]

use proptest::prelude::*;
use stems::model::{Accelerator, HardwareOverrides, SourceText, Workload};
use stems::tiling::{CtShape, TileRegion};

pub fn accelerator() -> Accelerator {
    Accelerator::load(
        std::path::Path::new("models/hardware/meta_proto.toml"),
        HardwareOverrides::default(),
    )
    .expect("bundled accelerator")
}

/// One conv layer on an input sized so that shapes agree ("same" padding).
#[derive(Debug, Clone, Copy)]
pub struct Conv {
    pub k: u64,
    pub c: u64,
    pub oy: u64,
    pub ox: u64,
    pub f: u64,
    pub stride: u64,
    pub timesteps: u32,
    pub stateful: bool,
    pub input_bits: u32,
}

impl Conv {
    pub fn workload(&self) -> Workload {
        let pad = (self.f - 1) / 2;
        let text = format!(
            r#"name = "one_conv"
timesteps = {t}
[input]
channels = {c}
height = {iy}
width = {ix}
bits = {ib}
[[layer]]
name = "conv"
op = "conv"
block = 0
sources = ["input"]
k = {k}
c = {c}
oy = {oy}
ox = {ox}
fy = {f}
fx = {f}
stride = {s}
padding = {pad}
stateful = {st}
precision = {{ w = 4, o = 1, v = 12, acc = 16 }}
"#,
            t = self.timesteps,
            c = self.c,
            iy = self.oy * self.stride,
            ix = self.ox * self.stride,
            ib = self.input_bits,
            k = self.k,
            oy = self.oy,
            ox = self.ox,
            f = self.f,
            s = self.stride,
            st = self.stateful,
        );
        Workload::parse(&SourceText::new("one_conv.toml", text)).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn shape(&self, t: std::ops::Range<u32>) -> CtShape {
        let w = self.workload();
        let layer = &w.layers[0];
        CtShape::new(&w, layer, &TileRegion::whole_layer(layer, t))
    }
}

pub fn conv_strategy() -> impl Strategy<Value = Conv> {
    (
        1u64..=4,
        1u64..=48,
        1u64..=40,
        1u64..=12,
        prop_oneof![Just(1u64), Just(3u64)],
        1u64..=2,
        1u32..=4,
        any::<bool>(),
        prop_oneof![Just(1u32), Just(4u32)],
    )
        .prop_map(
            |(k32, c, oy, ox, f, stride, timesteps, stateful, input_bits)| Conv {
                k: 16 * k32,
                c,
                oy,
                ox,
                f,
                stride,
                timesteps,
                stateful,
                input_bits,
            },
        )
}

/// Runs the stems binary with `args`.
pub fn stems(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("stems runs")
}

/// A directory of its own under the system's temporary directory (tests run in
/// parallel, and may share a helper that writes files), removed with all in it when
/// dropped: a test run leaves nothing behind.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new(group: &str, test: &str) -> Self {
        static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("stems-{group}-{pid}-{test}-{n}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    /// `text` written as `name` in the directory: its path.
    pub fn file(&self, name: &str, text: impl AsRef<[u8]>) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file written in a [`Scratch`] directory of its own, removed when dropped.
pub struct TestFile {
    path: std::path::PathBuf,
    _dir: Scratch,
}

impl std::ops::Deref for TestFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::path::Path> for TestFile {
    fn as_ref(&self) -> &std::path::Path {
        &self.path
    }
}

/// `text` written as `name` in a directory of the test's own.
pub fn test_file(group: &str, test: &str, name: &str, text: impl AsRef<[u8]>) -> TestFile {
    let dir = Scratch::new(group, test);
    TestFile {
        path: dir.file(name, text),
        _dir: dir,
    }
}

/// `spec` scheduled for `workload` on the bundled accelerator at global SRAM `gb`.
pub fn plan(workload: &std::path::Path, gb: &str, spec: &str) -> stems::schedule::Schedule {
    stems::schedule::plan(
        workload,
        std::path::Path::new("models/hardware/meta_proto.toml"),
        &stems::model::Overrides {
            global_sram: Some(gb.parse().expect("size")),
            ..stems::model::Overrides::default()
        },
        spec,
        stems::schedule::SchedulerOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `stems evaluate` of tiny_fused under ST-LBL on `hardware` (a file written for a
/// test): its exit code and what it said on stderr.
pub fn evaluate_on(hardware: &std::path::Path) -> (Option<i32>, String) {
    let run = stems(&[
        "evaluate",
        "--workload",
        "models/workloads/tiny_fused.toml",
        "--hardware",
        hardware.to_str().expect("path"),
        "--schedule",
        "ST-LBL",
    ]);
    (
        run.status.code(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

//! Hostile input (acceptance 2): every case gets a clear error naming the
//! problem, and the data root is left exactly as it was.
#![allow(clippy::unwrap_used)]

mod common;

use berth_engine::image::ImportOptions;
use common::*;

struct Case {
    name: &'static str,
    archive: Vec<u8>,
    /// Words the error message must contain.
    want: &'static [&'static str],
}

fn layer_cases() -> Vec<(&'static str, Vec<u8>, &'static [&'static str])> {
    let tmp_target = format!("../../../../../../tmp/berth-hostile-{}", std::process::id());
    let tmp_target: &'static str = Box::leak(tmp_target.into_boxed_str());
    vec![
        (
            "dot-dot",
            tar_of(&[file("ok", b"x"), file(tmp_target, b"pwned")]),
            &["..", "berth-hostile"],
        ),
        (
            "absolute",
            tar_of(&[file("/tmp/berth-hostile-abs", b"pwned")]),
            &["absolute path", "/tmp/berth-hostile-abs"],
        ),
        (
            "symlink-relative-escape",
            tar_of(&[
                symlink("esc", "../../../../../../tmp"),
                file("esc/berth-hostile", b"x"),
            ]),
            &["esc", "points outside the root"],
        ),
        (
            "symlink-absolute-in-path",
            tar_of(&[symlink("abs", "/tmp"), file("abs/berth-hostile", b"x")]),
            &["abs/berth-hostile", "leaves the root through a symlink"],
        ),
        (
            "hardlink-escape",
            tar_of(&[hardlink("h", "../../../../etc/passwd")]),
            &["\"h\"", "hard link target outside the root"],
        ),
        (
            "hardlink-through-symlink",
            tar_of(&[symlink("s", "/etc"), hardlink("h", "s/passwd")]),
            &["\"h\"", "leaves the root through a symlink"],
        ),
        (
            "truncated-file",
            {
                let mut t = tar_of(&[file("big", &[7u8; 4096])]);
                t.truncate(512 + 1000);
                t
            },
            &["big", "cut short"],
        ),
        (
            "no-end-marker",
            {
                let mut t = tar_of(&[file("a", b"hello")]);
                t.truncate(1024);
                t
            },
            &["truncated"],
        ),
    ]
}

fn run(t: &TestEngine, c: &Case, via_import: bool) {
    let data = t.dir.path().join("data");
    let before = listing(&data);
    let refs_before = t.engine.images().list(&Default::default()).unwrap();
    let err = if via_import {
        t.engine
            .images()
            .import(&mut &c.archive[..], &ImportOptions::default())
            .unwrap_err()
    } else {
        t.engine
            .images()
            .load(&mut &c.archive[..], &mut |_| {})
            .unwrap_err()
    };
    let msg = err.to_string();
    eprintln!("{} (import: {via_import}): {msg}", c.name);
    for w in c.want {
        assert!(
            msg.contains(w),
            "{} (import: {via_import}): {msg:?} lacks {w:?}",
            c.name
        );
    }
    assert_eq!(
        err.kind(),
        berth_base::ErrorKind::Invalid,
        "{}: {msg}",
        c.name
    );
    assert_eq!(listing(&data), before, "{}: data root changed", c.name);
    assert_eq!(
        t.engine.images().list(&Default::default()).unwrap(),
        refs_before,
        "{}",
        c.name
    );
    assert!(!std::path::Path::new("/tmp/berth-hostile-abs").exists());
    assert!(!std::path::Path::new(&format!("/tmp/berth-hostile-{}", std::process::id())).exists());
}

fn engine_with_busybox() -> TestEngine {
    let t = engine();
    t.engine
        .images()
        .import(
            &mut &busybox_rootfs()[..],
            &ImportOptions {
                reference: Some("busybox".into()),
                ..Default::default()
            },
        )
        .unwrap();
    t
}

#[test]
fn hostile_layers_are_refused_and_leave_nothing() {
    let t = engine_with_busybox();
    for (name, layer, want) in layer_cases() {
        let import = Case {
            name,
            archive: layer.clone(),
            want,
        };
        run(&t, &import, true);
        let load = Case {
            name,
            archive: docker_archive(&[layer], "hostile:latest"),
            want,
        };
        run(&t, &load, false);
    }
}

#[test]
fn bad_archives_are_refused_and_leave_nothing() {
    let t = engine_with_busybox();
    let good_layer = tar_of(&[file("hello", b"world")]);
    let good = docker_archive(std::slice::from_ref(&good_layer), "good:latest");

    // The archive itself cut short, inside the layer and at the end.
    for cut in [good.len() / 3, good.len() - 1024 - 100] {
        run(
            &t,
            &Case {
                name: "archive-truncated",
                archive: good[..cut].to_vec(),
                want: &["invalid"],
            },
            false,
        );
    }

    // A layer whose content does not match the config's diff id.
    let mut archive = docker_archive(std::slice::from_ref(&good_layer), "wrong:latest");
    let pos = find(&archive, b"world").unwrap();
    archive[pos..pos + 5].copy_from_slice(b"WORLD");
    run(
        &t,
        &Case {
            name: "wrong-diff-id",
            archive,
            want: &["diff id"],
        },
        false,
    );

    // A blob whose name is not its digest (OCI layout).
    let wrong = format!("blobs/sha256/{}", "0".repeat(64));
    let archive = tar_of(&[
        file(&wrong, &good_layer),
        file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        file("index.json", br#"{"schemaVersion":2,"manifests":[]}"#),
    ]);
    run(
        &t,
        &Case {
            name: "wrong-blob-digest",
            archive,
            want: &["digest mismatch"],
        },
        false,
    );

    for (name, manifest, want) in [
        (
            "manifest-not-json",
            &b"this is not json"[..],
            &["manifest.json"][..],
        ),
        ("manifest-empty", b"[]", &["no images"]),
        (
            "manifest-missing-config",
            br#"[{"Config":"nope.json","RepoTags":["x:y"],"Layers":[]}]"#,
            &["nope.json", "missing"],
        ),
        (
            "manifest-missing-layer",
            br#"[{"Config":"c.json","RepoTags":["x:y"],"Layers":["gone/layer.tar"]}]"#,
            &["gone/layer.tar"],
        ),
    ] {
        let archive = tar_of(&[
            file("manifest.json", manifest),
            file("c.json", br#"{"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#),
        ]);
        run(
            &t,
            &Case {
                name,
                archive,
                want,
            },
            false,
        );
    }
    run(
        &t,
        &Case {
            name: "not-an-archive",
            archive: b"hello, I am not a tarball at all".repeat(40),
            want: &["invalid archive"],
        },
        false,
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The child half of `killed_load_leaves_nothing`: loads the archive named
/// by the environment and never returns on its own before being killed.
#[test]
fn child_load_helper() {
    let (Ok(root), Ok(exec_root), Ok(archive)) = (
        std::env::var("BERTH_TEST_CHILD_ROOT"),
        std::env::var("BERTH_TEST_CHILD_EXEC"),
        std::env::var("BERTH_TEST_CHILD_ARCHIVE"),
    ) else {
        return;
    };
    let engine = berth_engine::Engine::open(berth_engine::Config {
        data_root: root.into(),
        exec_root: exec_root.into(),
    })
    .unwrap();
    let mut f = std::fs::File::open(archive).unwrap();
    let _ = engine.images().load(&mut f, &mut |_| {});
}

#[test]
fn killed_load_leaves_nothing() {
    let t = engine_with_busybox();
    let data = t.dir.path().join("data");
    // Ten layers of 3 MiB: long enough to be killed in the middle.
    let layers: Vec<Vec<u8>> = (0..10u8)
        .map(|i| tar_of(&[file(&format!("big{i}"), &vec![i; 3 << 20])]))
        .collect();
    let archive = t.dir.path().join("big.tar");
    std::fs::write(&archive, docker_archive(&layers, "big:latest")).unwrap();
    let before = listing(&data);
    let images_before = t.engine.images().list(&Default::default()).unwrap();

    // Engine::open in the child needs the database to itself.
    let TestEngine { engine, dir } = t;
    drop(engine);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_load_helper", "--nocapture"])
        .env("BERTH_TEST_CHILD_ROOT", &data)
        // Inside the test's directory: the killed child cannot clean up.
        .env("BERTH_TEST_CHILD_EXEC", dir.path().join("child-exec"))
        .env("BERTH_TEST_CHILD_ARCHIVE", &archive)
        .spawn()
        .unwrap();
    // Kill it once it has unpacked a layer or two.
    let staged = |data: &std::path::Path| {
        std::fs::read_dir(data.join("snapshots/overlay"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-"))
                    .count()
                    >= 2
            })
            .unwrap_or(false)
    };
    let start = std::time::Instant::now();
    while !staged(&data) && start.elapsed() < std::time::Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.kill();
    child.wait().unwrap();
    assert_ne!(
        listing(&data),
        before,
        "the child got somewhere before it was killed"
    );

    let engine = berth_engine::Engine::open(berth_engine::Config {
        data_root: data.clone(),
        exec_root: dir.path().join("exec"),
    })
    .unwrap();
    assert_eq!(
        listing(&data),
        before,
        "startup cleanup removes what the killed load left"
    );
    assert_eq!(
        engine.images().list(&Default::default()).unwrap(),
        images_before
    );
    // And the store still works.
    engine
        .images()
        .load(&mut std::fs::File::open(&archive).unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(engine.images().list(&Default::default()).unwrap().len(), 2);
}

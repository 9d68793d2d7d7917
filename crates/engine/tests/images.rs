//! The image service end to end on a temporary data root: import, list,
//! inspect, tag, save, load, remove, prune, events.
#![allow(clippy::unwrap_used)]

mod common;

use berth_engine::image::{DeleteResponse, ImportOptions, ListOptions, Loaded};
use common::*;

fn import_busybox(t: &TestEngine, name: &str) -> String {
    t.engine
        .images()
        .import(
            &mut &busybox_rootfs()[..],
            &ImportOptions {
                reference: Some(name.into()),
                changes: vec![
                    "CMD [\"sh\"]".into(),
                    "ENV PATH=/bin".into(),
                    "LABEL test=yes".into(),
                ],
                message: String::new(),
                source: "-".into(),
            },
        )
        .unwrap()
}

#[test]
fn import_list_inspect_tag_remove() {
    let t = engine();
    let imgs = t.engine.images();
    let (_, events) = t.engine.events().subscribe(None);
    let id = import_busybox(&t, "busybox");
    assert!(id.starts_with("sha256:"));
    let list = imgs.list(&ListOptions::default()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].repo_tags, vec!["busybox:latest"]);
    assert!(list[0].size > 500_000, "busybox is big: {}", list[0].size);

    let d = imgs.inspect("busybox").unwrap();
    assert_eq!(d.id, id);
    assert_eq!(d.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(d.comment, "Imported from -");
    assert_eq!(d.root_fs.layers.len(), 1);
    assert_eq!(imgs.inspect(&id[7..19]).unwrap().id, id, "short id");
    assert_eq!(
        imgs.inspect("docker.io/library/busybox:latest").unwrap().id,
        id
    );

    imgs.tag("busybox", "me/bb", "v1").unwrap();
    let mut tags = imgs.inspect(&id).unwrap().repo_tags;
    tags.sort();
    assert_eq!(tags, vec!["busybox:latest", "me/bb:v1"]);
    let f = |k: &str, v: &str| ListOptions {
        all: false,
        filters: [(k.to_string(), vec![v.to_string()])].into(),
    };
    assert_eq!(
        imgs.list(&f("reference", "me/*")).unwrap()[0].repo_tags,
        vec!["me/bb:v1"]
    );
    assert_eq!(imgs.list(&f("label", "test=yes")).unwrap().len(), 1);
    assert_eq!(imgs.list(&f("label", "test=no")).unwrap().len(), 0);
    assert_eq!(imgs.list(&f("dangling", "true")).unwrap().len(), 0);

    // By id with two tags: refused unless forced.
    assert_eq!(
        imgs.remove(&id, false, true).unwrap_err().kind(),
        berth_base::ErrorKind::Conflict
    );
    assert_eq!(
        imgs.remove("me/bb:v1", false, true).unwrap(),
        vec![DeleteResponse::Untagged("me/bb:v1".into())]
    );
    let out = imgs.remove("busybox", false, true).unwrap();
    assert_eq!(out[0], DeleteResponse::Untagged("busybox:latest".into()));
    assert_eq!(out[1], DeleteResponse::Deleted(id.clone()));
    assert!(imgs.list(&ListOptions::default()).unwrap().is_empty());
    // Layers and blobs are gone too.
    let data = t.dir.path().join("data");
    assert_eq!(
        std::fs::read_dir(data.join("content/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    let mut left: Vec<String> = std::fs::read_dir(data.join("snapshots/overlay"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["l", "rw"], "only the link and rw dirs remain");
    let actions: Vec<String> = events.try_iter().map(|e| e.action).collect();
    assert_eq!(actions, vec!["import", "tag", "untag", "untag", "delete"]);
}

#[test]
fn save_then_load_round_trips_ids() {
    let a = engine();
    let id = import_busybox(&a, "busybox:1.0");
    a.engine
        .images()
        .tag("busybox:1.0", "localhost:5000/bb", "x")
        .unwrap();
    let mut archive = Vec::new();
    a.engine
        .images()
        .save(
            &["busybox:1.0".into(), "localhost:5000/bb:x".into()],
            &mut archive,
        )
        .unwrap();

    let b = engine();
    let mut steps = 0;
    let loaded = b
        .engine
        .images()
        .load(&mut &archive[..], &mut |_| steps += 1)
        .unwrap();
    assert!(steps >= 2);
    // A big layer reports progress while it loads.
    let big = tar_of(&[file("big", &vec![1u8; 10 << 20])]);
    let mut reports = Vec::new();
    let p = engine();
    p.engine
        .images()
        .load(&mut &docker_archive(&[big], "big:1")[..], &mut |p| {
            reports.push((p.status.clone(), p.current))
        })
        .unwrap();
    let loading = reports
        .iter()
        .filter(|(s, c)| s == "Loading layer" && *c > 0)
        .count();
    assert!(loading >= 2, "{reports:?}");
    assert_eq!(
        loaded,
        vec![
            Loaded::Tag("busybox:1.0".into()),
            Loaded::Tag("localhost:5000/bb:x".into())
        ]
    );
    let da = a.engine.images().inspect(&id).unwrap();
    let db = b.engine.images().inspect(&id).unwrap();
    assert_eq!(da.root_fs, db.root_fs);
    assert_eq!(da.size, db.size);

    // Loading again changes nothing and shares the layer.
    b.engine
        .images()
        .load(&mut &archive[..], &mut |_| {})
        .unwrap();
    assert_eq!(
        b.engine
            .images()
            .list(&ListOptions::default())
            .unwrap()
            .len(),
        1
    );

    // A gzip-compressed archive loads too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &archive).unwrap();
    let c = engine();
    c.engine
        .images()
        .load(&mut &gz.finish().unwrap()[..], &mut |_| {})
        .unwrap();
    assert_eq!(c.engine.images().inspect("busybox:1.0").unwrap().id, id);
}

#[test]
fn prune_removes_dangling_images() {
    let t = engine();
    let imgs = t.engine.images();
    let first = import_busybox(&t, "bb");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = import_busybox(&t, "bb");
    assert_ne!(first, second, "created times differ");
    let dangling = imgs
        .list(&ListOptions {
            all: false,
            filters: [("dangling".to_string(), vec!["true".to_string()])].into(),
        })
        .unwrap();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].id, first);
    let report = imgs.prune(false, &Default::default()).unwrap();
    assert!(report.deleted.contains(&DeleteResponse::Deleted(first)));
    assert_eq!(imgs.list(&ListOptions::default()).unwrap().len(), 1);
    let du = imgs.disk_usage().unwrap();
    assert_eq!(du.images.len(), 1);
    assert!(du.layers_size > 0);
}

#[test]
fn spec_from_an_imported_image_resolves_users_from_its_files() {
    let t = engine();
    import_busybox(&t, "busybox");
    let imgs = t.engine.images();
    let passwd = imgs
        .read_image_file("busybox", "etc/passwd")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&passwd).contains("app:x:1000"));
    assert_eq!(imgs.read_image_file("busybox", "etc/shadow").unwrap(), None);
    let cfg = imgs.config("busybox").unwrap();
    let opts = berth_engine::spec::RunOptions {
        user: Some("app".into()),
        hostname: "h".into(),
        rootfs: "/rootfs".into(),
        ..Default::default()
    };
    let read = |p: &str| imgs.read_image_file("busybox", p).unwrap();
    let setup = berth_engine::spec::build(&cfg, &opts, &read).unwrap();
    let p = setup.spec.process().clone().unwrap();
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
    assert_eq!(p.user().additional_gids().clone().unwrap(), vec![2000]);
    assert_eq!(p.args().clone().unwrap(), vec!["sh"]);
    assert!(p.env().clone().unwrap().contains(&"PATH=/bin".to_string()));
}

#[test]
fn load_path_reads_files_and_layout_directories() {
    let a = engine();
    let id = import_busybox(&a, "busybox:dir");
    let archive = a.dir.path().join("saved.tar");
    a.engine
        .images()
        .save(
            &["busybox:dir".into()],
            &mut std::fs::File::create(&archive).unwrap(),
        )
        .unwrap();
    let layout = a.dir.path().join("layout");
    tar::Archive::new(std::fs::File::open(&archive).unwrap())
        .unpack(&layout)
        .unwrap();

    let b = engine();
    let loaded = b.engine.images().load_path(&layout, &mut |_| {}).unwrap();
    assert_eq!(loaded, vec![Loaded::Tag("busybox:dir".into())]);
    assert_eq!(b.engine.images().resolve("busybox:dir").unwrap(), id);
    let c = engine();
    c.engine.images().load_path(&archive, &mut |_| {}).unwrap();
    assert_eq!(c.engine.images().resolve("busybox:dir").unwrap(), id);
    assert!(c
        .engine
        .images()
        .load_path(&a.dir.path().join("nothing-here"), &mut |_| {})
        .is_err());
}

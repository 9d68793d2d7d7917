//! The engine's volume service over a container's life, on a plain
//! directory as the container's rootfs: named and anonymous volumes (the
//! image's VOLUME filled from the rootfs), binds, tmpfs, --volumes-from,
//! inspect's Mounts, rm -v, and the API operations with their events.

use berth_engine::volume::CreateRequest;
use berth_engine::{Config, Engine};
use serde_json::json;
use std::collections::BTreeMap;

fn engine() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(Config {
        data_root: dir.path().join("data"),
        exec_root: dir.path().join("exec"),
    })
    .expect("open engine");
    (engine, dir)
}

fn id(n: u8) -> String {
    format!("{n:02x}{:062x}", std::process::id())
}

#[test]
fn container_mounts_over_a_life() {
    let (engine, dir) = engine();
    let vols = engine.volumes();
    let (_past, events) = engine.events().subscribe(None);
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("seed")).unwrap();
    std::fs::write(rootfs.join("seed/hello"), "from the image").unwrap();
    let host = dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();

    vols.create(CreateRequest {
        name: Some("named".into()),
        ..Default::default()
    })
    .unwrap();
    let a = id(1);
    let config = json!({"Volumes": {"/seed": {}}});
    let hc = json!({
        "Binds": ["named:/data", format!("{}:/b:ro", host.display())],
        "Tmpfs": {"/t": "size=1m"},
    });
    vols.container_create(&a, &config, &hc, Some(&rootfs), &|_| None)
        .expect("create");

    let mounts = vols.container_mounts(&a).unwrap();
    let by_dest: BTreeMap<&str, _> = mounts.iter().map(|m| (m.destination.as_str(), m)).collect();
    assert_eq!(by_dest.len(), 3, "{mounts:?}");
    assert_eq!(by_dest["/data"].name, "named");
    assert!(!by_dest["/b"].rw);
    assert_eq!(by_dest["/b"].kind, "bind");
    let anon = by_dest["/seed"].name.clone();
    assert_eq!(anon.len(), 64);
    let data = vols.inspect(&anon).unwrap().mountpoint;
    assert_eq!(
        std::fs::read_to_string(format!("{data}/hello")).unwrap(),
        "from the image"
    );
    // In use: no removal without force.
    assert_eq!(
        vols.remove("named", false).unwrap_err().kind(),
        berth_base::ErrorKind::Conflict
    );

    let oci = vols.container_start(&a, &rootfs).expect("start");
    let dests: Vec<&str> = oci
        .iter()
        .filter_map(|m| m["destination"].as_str())
        .collect();
    for d in ["/data", "/b", "/seed", "/t"] {
        assert!(dests.contains(&d), "{d} in {dests:?}");
        assert!(rootfs.join(&d[1..]).is_dir(), "mount point {d}");
    }
    let b = oci.iter().find(|m| m["destination"] == "/b").unwrap();
    assert!(b["options"].as_array().unwrap().contains(&json!("ro")));

    // --volumes-from a:ro shares its volumes and binds, not its tmpfs.
    let c = id(2);
    vols.container_create(
        &c,
        &json!({}),
        &json!({"VolumesFrom": ["a:ro"]}),
        None,
        &|n| (n == "a").then(|| a.clone()),
    )
    .expect("volumes-from");
    let shared = vols.container_mounts(&c).unwrap();
    assert_eq!(shared.len(), 3);
    assert!(shared.iter().all(|m| !m.rw));

    vols.container_stop(&a).unwrap();
    assert!(
        vols.container_remove(&a, true).unwrap().is_empty(),
        "still used by c"
    );
    let removed = vols.container_remove(&c, true).unwrap();
    assert!(removed.is_empty(), "c did not create the anonymous volume");
    // Nobody uses them now; prune (anonymous only by default) takes the
    // anonymous one, `all` the named one too.
    let r = vols.prune(&BTreeMap::new()).unwrap();
    assert_eq!(r.volumes_deleted, vec![anon.clone()]);
    let r = vols
        .prune(&BTreeMap::from([(
            "all".to_string(),
            vec!["true".to_string()],
        )]))
        .unwrap();
    assert_eq!(r.volumes_deleted, vec!["named".to_string()]);

    let seen: Vec<(String, String)> = events
        .try_iter()
        .filter(|e| e.typ == "volume")
        .map(|e| (e.action, e.actor.id))
        .collect();
    for want in [
        ("create", "named"),
        ("create", anon.as_str()),
        ("mount", "named"),
        ("destroy", anon.as_str()),
        ("destroy", "named"),
    ] {
        assert!(
            seen.iter().any(|(a, i)| a == want.0 && i == want.1),
            "{want:?} in {seen:?}"
        );
    }
}

#[test]
fn rm_v_removes_anonymous_volumes_and_bad_specs_are_refused() {
    let (engine, dir) = engine();
    let vols = engine.volumes();
    let a = id(3);
    vols.container_create(&a, &json!({}), &json!({"Binds": ["/anon"]}), None, &|_| {
        None
    })
    .unwrap();
    let anon = vols.container_mounts(&a).unwrap()[0].name.clone();
    assert_eq!(vols.container_remove(&a, true).unwrap(), vec![anon.clone()]);
    assert!(vols.inspect(&anon).is_err());

    let missing = dir.path().join("missing");
    let bad = vols.container_create(
        &id(4),
        &json!({}),
        &json!({"Mounts": [{"Type": "bind", "Source": missing, "Target": "/m"}]}),
        None,
        &|_| None,
    );
    assert_eq!(bad.unwrap_err().kind(), berth_base::ErrorKind::Invalid);
    let bad = vols.container_create(
        &id(5),
        &json!({}),
        &json!({"Binds": ["x:/a", "y:/a"]}),
        None,
        &|_| None,
    );
    assert!(bad.is_err());
    let bad = vols.container_create(
        &id(6),
        &json!({}),
        &json!({"VolumesFrom": ["nope"]}),
        None,
        &|_| None,
    );
    assert_eq!(bad.unwrap_err().kind(), berth_base::ErrorKind::NotFound);
}

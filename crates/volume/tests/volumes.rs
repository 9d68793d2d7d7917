//! The local volume store on a temporary data root: create, list, inspect,
//! remove, prune, references that survive a restart, and preparing a
//! container's mounts without mounting anything.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use berth_base::ErrorKind;
use berth_volume::*;
use common::Scratch;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn named(store: &VolumeStore, name: &str, l: &[(&str, &str)]) -> Volume {
    store
        .create(CreateRequest {
            name: Some(name.into()),
            labels: labels(l),
            ..Default::default()
        })
        .unwrap()
}

fn names(v: Vec<Volume>) -> Vec<String> {
    v.into_iter().map(|v| v.name).collect()
}

#[test]
fn create_inspect_list_remove() {
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    let a = named(&store, "alpha", &[("tier", "db")]);
    assert_eq!(a.driver, "local");
    assert_eq!(a.scope, "local");
    assert_eq!(
        a.mountpoint,
        s.path().join("volumes/alpha/_data").to_str().unwrap()
    );
    assert!(std::path::Path::new(&a.mountpoint).is_dir());
    assert!(s.path().join("volumes/alpha/volume.json").is_file());
    assert!(
        a.created_at.ends_with('Z') && a.created_at.len() == 20,
        "{}",
        a.created_at
    );

    // docker's inspect JSON shape
    let j = serde_json::to_value(&a).unwrap();
    for k in [
        "Name",
        "Driver",
        "Mountpoint",
        "CreatedAt",
        "Labels",
        "Scope",
        "Options",
    ] {
        assert!(j.get(k).is_some(), "missing {k} in {j}");
    }
    assert!(j.get("UsageData").is_none());

    // create is idempotent
    let again = named(&store, "alpha", &[("other", "x")]);
    assert_eq!(again, a);

    let anon = store.create(CreateRequest::default()).unwrap();
    assert!(berth_base::id::is_full_id(&anon.name), "{}", anon.name);
    assert!(anon.labels.contains_key(ANONYMOUS_LABEL));
    named(&store, "beta", &[("tier", "web")]);

    let all = names(store.list(&VolumeFilters::default()).unwrap());
    assert_eq!(all.len(), 3);
    let f = |m: &[(&str, &[&str])]| {
        let map: BTreeMap<String, Vec<String>> = m
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        names(store.list(&VolumeFilters::from_map(&map).unwrap()).unwrap())
    };
    assert_eq!(f(&[("name", &["alp"])]), ["alpha"]);
    assert_eq!(f(&[("name", &["alp", "bet"])]), ["alpha", "beta"]);
    assert_eq!(f(&[("label", &["tier=web"])]), ["beta"]);
    assert_eq!(f(&[("label", &["tier"])]), ["alpha", "beta"]);
    assert_eq!(f(&[("label", &["tier", "tier=db"])]), ["alpha"]);
    assert_eq!(f(&[("driver", &["local"])]).len(), 3);
    assert!(f(&[("driver", &["nfs"])]).is_empty());
    store.add_user("beta", "c1").unwrap();
    assert_eq!(f(&[("dangling", &["false"])]), ["beta"]);
    assert_eq!(f(&[("dangling", &["true"])]).len(), 2);

    let usage = store.usage("beta").unwrap();
    assert_eq!((usage.size, usage.ref_count), (0, 1));
    std::fs::write(store.data_path("alpha").join("f"), b"12345").unwrap();
    assert_eq!(store.usage("alpha").unwrap().size, 5);

    store.remove("alpha", false).unwrap();
    assert!(!s.path().join("volumes/alpha").exists());
    assert_eq!(
        store.inspect("alpha").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.remove("alpha", false).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    store.remove("alpha", true).unwrap();
}

#[test]
fn invalid_names_and_options_are_refused() {
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    for bad in ["a", "-x", "a/b", "../etc", "a b", "_x"] {
        let e = store
            .create(CreateRequest {
                name: Some(bad.into()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{bad}: {e}");
    }
    let e = store
        .create(CreateRequest {
            name: Some("vv".into()),
            driver: Some("nfs-plugin".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = store
        .create(CreateRequest {
            name: Some("vv".into()),
            options: labels(&[("type", "tmpfs")]),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(
        !s.path().join("volumes/vv").exists(),
        "failed create left a directory"
    );
    assert_eq!(
        store.inspect("../x").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn in_use_volumes_are_refused_across_a_restart() {
    let s = Scratch::new();
    {
        let store = VolumeStore::open(s.path()).unwrap();
        named(&store, "data1", &[]);
        store.add_user("data1", "c1").unwrap();
        store.add_user("data1", "c2").unwrap();
        store.add_user("data1", "c2").unwrap();
    }
    let store = VolumeStore::open(s.path()).unwrap();
    assert_eq!(store.users("data1").unwrap(), ["c1", "c2"]);
    let e = store.remove("data1", false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("c1"), "{e}");
    assert!(!store.remove_user("data1", "c1").unwrap());
    assert!(store.remove_user("data1", "c2").unwrap());
    store.add_user("data1", "c3").unwrap();
    store.remove("data1", true).unwrap();
    assert_eq!(
        store.inspect("data1").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn prune_takes_anonymous_unused_by_default() {
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    named(&store, "keep-named", &[]);
    named(&store, "keep-label", &[("keep", "1")]);
    let anon_used = store.create(CreateRequest::default()).unwrap().name;
    let anon_free = store.create(CreateRequest::default()).unwrap().name;
    store.add_user(&anon_used, "c1").unwrap();
    std::fs::write(store.data_path(&anon_free).join("f"), vec![0u8; 1000]).unwrap();

    let r = store.prune(&PruneOptions::default()).unwrap();
    assert_eq!(r.volumes_deleted, std::slice::from_ref(&anon_free));
    assert_eq!(r.space_reclaimed, 1000);

    let r = store
        .prune(&PruneOptions {
            all: true,
            not_labels: vec!["keep".into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.volumes_deleted, ["keep-named"]);
    let left = names(store.list(&VolumeFilters::default()).unwrap());
    let mut want = vec![anon_used, "keep-label".to_string()];
    want.sort();
    assert_eq!(left, want);

    let filters: BTreeMap<String, Vec<String>> =
        [("all".to_string(), vec!["true".to_string()])].into();
    let r = store
        .prune(&PruneOptions::from_map(&filters).unwrap())
        .unwrap();
    assert_eq!(r.volumes_deleted, ["keep-label"]);
}

#[test]
fn prepare_and_release_without_mounting() {
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    let host = s.path().join("host/made/by/v");
    let req = MountRequest {
        binds: vec![
            parse_volume(&format!("{}:/h", host.display())).unwrap(),
            parse_volume("named1:/n:ro").unwrap(),
        ],
        mounts: vec![parse_mount("type=volume,dst=/anon").unwrap()],
        image_volumes: vec!["/img".into(), "/n".into()],
        ..Default::default()
    };
    let plan = combine(&req).unwrap();
    let mounts = store.prepare("c1", &plan, None).unwrap();
    assert!(host.is_dir(), "-v creates a missing bind source");
    assert_eq!(mounts.len(), 4);
    let anon: Vec<&MountPoint> = mounts.iter().filter(|m| m.anonymous).collect();
    assert_eq!(anon.len(), 2);
    assert_eq!(store.users("named1").unwrap(), ["c1"]);
    let inspect = inspect_mounts(&mounts);
    let n = inspect.iter().find(|i| i.destination == "/n").unwrap();
    assert_eq!(
        (n.name.as_str(), n.rw, n.mode.as_str()),
        ("named1", false, "ro")
    );

    // A second container shares the named volume.
    let m2 = store
        .prepare(
            "c2",
            &combine(&MountRequest {
                binds: vec![parse_volume("named1:/x").unwrap()],
                ..Default::default()
            })
            .unwrap(),
            None,
        )
        .unwrap();
    assert_eq!(store.users("named1").unwrap(), ["c1", "c2"]);

    // rm -v: anonymous volumes go, the named one stays (still used by c2).
    let removed = store.release("c1", &mounts, true).unwrap();
    assert_eq!(removed.len(), 2);
    for a in anon {
        assert_eq!(
            store.inspect(&a.name).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
    assert_eq!(store.users("named1").unwrap(), ["c2"]);
    // Releasing twice is harmless.
    assert!(store.release("c1", &mounts, true).unwrap().is_empty());
    store.release("c2", &m2, true).unwrap();
    store.inspect("named1").unwrap();
}

#[test]
fn prepare_refuses_missing_mount_source_and_rolls_back() {
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    let missing = s.path().join("nope");
    let req = MountRequest {
        binds: vec![parse_volume("early:/a").unwrap()],
        mounts: vec![parse_mount(&format!("type=bind,src={},dst=/b", missing.display())).unwrap()],
        image_volumes: vec!["/c".into()],
        ..Default::default()
    };
    let e = store
        .prepare("c1", &combine(&req).unwrap(), None)
        .unwrap_err();
    assert!(
        matches!(e, Error::BindSourceMissing(ref p) if *p == missing),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(!missing.exists());
    // The named volume created on the way stays (named volumes outlive
    // containers) but is no longer referenced; the anonymous one is gone.
    assert!(store.users("early").unwrap().is_empty());
    assert_eq!(
        names(store.list(&VolumeFilters::default()).unwrap()),
        ["early"]
    );
}

#[test]
fn concurrent_references_are_all_counted() {
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    named(&store, "shared1", &[]);
    std::thread::scope(|t| {
        for i in 0..8 {
            let store = &store;
            t.spawn(move || {
                for j in 0..10 {
                    store.add_user("shared1", &format!("c{i}-{j}")).unwrap();
                }
                for j in 0..5 {
                    store.remove_user("shared1", &format!("c{i}-{j}")).unwrap();
                }
            });
        }
    });
    assert_eq!(store.users("shared1").unwrap().len(), 40);
    assert_eq!(store.usage("shared1").unwrap().ref_count, 40);
}

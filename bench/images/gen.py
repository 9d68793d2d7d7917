#!/usr/bin/env python3
"""Writes docker-archives (the layout `docker save` writes) for the image
benchmarks.

usage: gen.py OUT.tar [TOTAL_MIB] [LAYERS] [TAG]
         a multi-layer image with deterministic, incompressible content
       gen.py --many OUT.tar COUNT
         COUNT small images (distinct configs, one shared layer), tagged
         many/imgN:latest
"""
import hashlib, io, json, os, random, sys, tarfile


def put(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1_700_000_000
    t.addfile(ti, io.BytesIO(data))


def many(out, count):
    lbuf = io.BytesIO()
    with tarfile.open(fileobj=lbuf, mode="w", format=tarfile.PAX_FORMAT) as t:
        put(t, "hello", b"hello from a small image\n")
    layer = lbuf.getvalue()
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    entries = []
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as t:
        put(t, "layer/layer.tar", layer)
        for i in range(count):
            config = json.dumps({
                "architecture": "amd64", "os": "linux",
                "created": "2024-01-01T%02d:%02d:%02dZ" % (i // 3600 % 24, i // 60 % 60, i % 60),
                "config": {"Cmd": ["/bin/sh"], "Labels": {"n": str(i)}},
                "rootfs": {"type": "layers", "diff_ids": [diff]},
            }, separators=(",", ":")).encode()
            h = hashlib.sha256(config).hexdigest()
            put(t, f"{h}.json", config)
            entries.append({"Config": f"{h}.json", "RepoTags": [f"many/img{i}:latest"], "Layers": ["layer/layer.tar"]})
        put(t, "manifest.json", json.dumps(entries).encode())


if sys.argv[1] == "--many":
    many(sys.argv[2], int(sys.argv[3]))
    sys.exit(0)

out = sys.argv[1]
total_mib = int(sys.argv[2]) if len(sys.argv) > 2 else 500
nlayers = int(sys.argv[3]) if len(sys.argv) > 3 else 5
tag = sys.argv[4] if len(sys.argv) > 4 else "bench/big:latest"

per_layer = total_mib * (1 << 20) // nlayers


def layer_bytes(i):
    """One layer: a directory of 1 MiB files, 200 small files and a symlink."""
    rnd = random.Random(i)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(name, data=None, kind=tarfile.REGTYPE, link=""):
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mtime = 1_700_000_000
            ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            ti.linkname = link
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
        add(f"data{i}", kind=tarfile.DIRTYPE)
        add(f"data{i}/small", kind=tarfile.DIRTYPE)
        left = per_layer
        for k in range(200):
            d = rnd.randbytes(4096)
            add(f"data{i}/small/s{k:03d}", d)
            left -= len(d)
        k = 0
        while left > 0:
            d = rnd.randbytes(min(1 << 20, left))
            add(f"data{i}/m{k:04d}.bin", d)
            left -= len(d)
            k += 1
        add(f"data{i}/link", kind=tarfile.SYMTYPE, link=f"m0000.bin")
    return buf.getvalue()


layers = [layer_bytes(i) for i in range(nlayers)]
diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
    "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"COPY layer {i}"} for i in range(nlayers)],
}, separators=(",", ":")).encode()
config_hex = hashlib.sha256(config).hexdigest()
names = [f"{d[7:]}/layer.tar" for d in diff_ids]
manifest = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [tag], "Layers": names}]).encode()

with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as t:
    for n, l in zip(names, layers):
        d = tarfile.TarInfo(n.split("/")[0]); d.type = tarfile.DIRTYPE; d.mode = 0o755
        t.addfile(d)
        put(t, n, l)
    put(t, f"{config_hex}.json", config)
    put(t, "manifest.json", manifest)
print(f"sha256:{config_hex}")

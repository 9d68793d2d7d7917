#!/usr/bin/env python3
"""docker-py (Debian's python3-docker) against berthd: negotiation, system
info, and the image API (load, get, tag, list, history, save, remove, df,
events, not-found errors, prune).

usage: docker_py_images.py SOCKET DOCKER_SAVE_TAR
"""
import sys
import time

import docker

c = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto")
assert c.api.api_version == "1.47", c.api.api_version
assert c.ping()
assert c.info()["Driver"] == "overlay2"
assert c.version()["ApiVersion"] == "1.47"
with open(sys.argv[2], "rb") as f:
    loaded = c.images.load(f.read())
assert [i.tags for i in loaded] == [["busybox:latest"]], loaded
img = c.images.get("busybox:latest")
assert img.id.startswith("sha256:")
img.tag("py/box", "1")
tags = sorted(t for i in c.images.list() for t in i.tags)
assert tags == ["busybox:latest", "py/box:1"], tags
assert len(img.history()) >= 1
assert len(b"".join(img.save())) > 1024
c.images.remove("py/box:1")
assert sorted(t for i in c.images.list() for t in i.tags) == ["busybox:latest"]
assert c.df()["LayersSize"] > 0
actions = [e["Action"] for e in c.events(since=0, until=int(time.time()) + 1, decode=True)]
assert actions[-4:] == ["load", "tag", "save", "untag"], actions
try:
    c.images.get("nope")
    raise AssertionError("found an image that does not exist")
except docker.errors.ImageNotFound as e:
    assert e.explanation == "No such image: nope", e.explanation
assert c.images.prune(filters={"dangling": True})["SpaceReclaimed"] == 0
print("docker-py: ok")

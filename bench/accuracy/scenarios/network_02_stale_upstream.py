"""A proxy still dials its upstream's old address after the upstream was recreated.

Project ``shop`` whose nginx uses its own config (bind-mounted nginx.conf) with a
plain ``proxy_pass http://backend:8000``: nginx resolves ``backend`` once, at start.
The backend was then recreated and got another address (its old one went to a
short-lived container); nginx keeps dialling the old one: 502s and
``connect() failed … upstream: "http://OLD-IP:8000/…"`` in its log.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import (
    H1,
    attrs,
    cname,
    compose,
    ctx,
    images,
    nginx_service,
    shop,
    shop_dir,
    wait_running,
)
from tests.lab.lab import Lab
from tests.lab.scenarios import nginx_requests
from tests.lab.stack import run_container, write_file
from tests.lab.util import LabError

NGINX_CONF = """\
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr warn;
events { worker_connections 128; }
http {
    access_log /dev/stdout;
    server {
        listen 80;
        location / {
            proxy_pass http://backend:8000;
            proxy_connect_timeout 2s;
        }
    }
}
"""


def build(lab: Lab) -> None:
    d = shop_dir()
    write_file(d / "nginx" / "nginx.conf", NGINX_CONF)
    nginx = nginx_service(volumes=["./nginx/nginx.conf:/etc/nginx/nginx.conf:ro"])
    shop(lab, services={"nginx": nginx})
    backend, proxy = cname("shop", "backend"), cname("shop", "nginx")
    old = _ip(lab, backend)
    compose(H1, d, "rm", "-s", "-f", "backend")
    taker = run_container(
        lab.docker("h1"), images.ref("busybox"), command=["sleep", "5"], network="shop_default"
    )
    compose(H1, d, "up", "-d", "--no-deps", "backend")
    wait_running(lab, backend)
    taker.remove(force=True)
    if _ip(lab, backend) == old:
        raise LabError(f"backend kept its address {old}")
    nginx_requests(ctx(lab), proxy, 2)


def _ip(lab: Lab, container: str) -> str:
    return str(attrs(lab, container)["NetworkSettings"]["Networks"]["shop_default"]["IPAddress"])


SCENARIO = Scenario(
    id="proxy-stale-upstream",
    title="nginx resolved backend once; backend was recreated on a new address: 502s",
    family="network",
    build=build,
    expect=Expect(
        required=(Required(code="network.stale_upstream", subject="nginx"),),
        forbidden=("dns.resolution_failed", "network.split", "network.unresolvable_host"),
    ),
)

"""Two stacks publish the same host port: the second one's proxy cannot start.

Project ``shop`` (nginx on 8080) is healthy; then a second project, ``blog``, was
deployed on the same host from its own directory, its proxy also publishing 8080:
compose created ``blog``'s nginx but it could not start (port already allocated).
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import H1, compose_fails, nginx_service, shop, shop_dir
from tests.lab.lab import Lab
from tests.lab.stack import write_compose


def build(lab: Lab) -> None:
    shop(lab)
    blog = shop_dir("blog")
    proxy = nginx_service()
    del proxy["depends_on"]
    write_compose(blog, {"services": {"nginx": proxy}})
    compose_fails(H1, blog, "up", "-d", expect="port is already allocated")


SCENARIO = Scenario(
    id="two-stacks-same-port",
    title="projects shop and blog both publish host port 8080; blog's nginx cannot start",
    family="compose",
    build=build,
    expect=Expect(
        required=(Required(code="compose.port_collision", subject="blog"),),
        # true as well: blog's nginx is down because the port is taken
        tolerated=("container.port_allocated", "container.down"),
        forbidden=("compose.env_collision", "network.split"),
    ),
)

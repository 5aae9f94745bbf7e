"""A service's env_file is gone: compose can no longer deploy the project.

Project ``shop`` whose backend reads ``env_file: [.env, .env.local]`` (.env.local holds
the payment keys, copied by hand at the first deploy). A cleanup of the deploy folder
removed .env.local; the backend still runs from before, but the next ``up`` (or any
``compose config``) fails: "env file …/.env.local not found".
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import backend_service, shop, shop_dir
from tests.lab.lab import Lab
from tests.lab.stack import write_env


def build(lab: Lab) -> None:
    d = shop_dir()
    write_env(d, {"PAYMENT_API_KEY": "pk-planted-0c9e", "PAYMENT_MODE": "live"}, ".env.local")
    shop(lab, services={"backend": backend_service(env_file=[".env", ".env.local"])})
    (d / ".env.local").unlink()


SCENARIO = Scenario(
    id="env-file-missing",
    title="backend's env_file .env.local was deleted: the next compose up fails",
    family="config",
    build=build,
    expect=Expect(
        required=(Required(code="env.file_missing", subject=".env.local"),),
        # the keys the running container has and no file on disk holds any more
        tolerated=("env.drift",),
        forbidden=("container.down", "compose.orphan_container", "compose.config_stale"),
    ),
)

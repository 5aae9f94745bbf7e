"""A new image was pulled (here: built) under the running tag, and never applied.

Project ``shop`` whose backend runs image ``shop-backend:release`` (built FROM the lab's
backend image, revision 1). Then a deploy built revision 2 under the same tag and did
not recreate the service: the container still runs revision 1, the tag names another
image now.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import backend_service, build_image, images, remove_image, shop
from tests.lab.lab import Lab

TAG = "shop-backend:release"


def build(lab: Lab) -> None:
    remove_image(lab, TAG)
    base = images.ref("backend")
    build_image(lab, TAG, f"FROM {base}\nLABEL org.example.revision=1\n")
    shop(lab, services={"backend": backend_service(image=TAG)})
    build_image(lab, TAG, f"FROM {base}\nLABEL org.example.revision=2\n")


SCENARIO = Scenario(
    id="image-pulled-not-applied",
    title="shop-backend:release points at a new image; backend still runs the old one",
    family="compose",
    build=build,
    expect=Expect(
        required=(Required(code="container.image_stale", subject="backend"),),
        # compose's dry run would recreate it for the new image: the same truth
        tolerated=("compose.config_stale",),
        forbidden=("env.drift", "container.down"),
    ),
)

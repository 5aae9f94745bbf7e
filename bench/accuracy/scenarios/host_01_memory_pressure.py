"""Host memory pressure: almost no memory available, and the host swapping.

Host h1 (a 2 GiB VPS as its SSH sessions see it) with project ``shop`` healthy:
``MemAvailable`` is 60 MiB (under 3 %), and 90 % of its 1 GiB swap is in use.

The lab cannot starve a real host of memory safely (its hosts are network namespaces
on one machine that other work shares), so the scenario gives h1's sshd (which has a
mount namespace of its own) a made-up ``/proc/meminfo``, bind-mounted there: exactly
the file the diagnosis reads over SSH, and nothing else on the machine changes. The
benchmark removes it after the diagnosis.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import H1, fake_meminfo, shop
from tests.lab.lab import Lab

MIB = 1024  # kB
MEMINFO = f"""\
MemTotal:        {2048 * MIB} kB
MemFree:           {21 * MIB} kB
MemAvailable:      {60 * MIB} kB
Buffers:            {3 * MIB} kB
Cached:            {48 * MIB} kB
SwapCached:        {40 * MIB} kB
Active:          {1500 * MIB} kB
Inactive:         {380 * MIB} kB
SwapTotal:       {1024 * MIB} kB
SwapFree:         {102 * MIB} kB
"""


def build(lab: Lab) -> None:
    shop(lab)
    fake_meminfo(H1, MEMINFO)


SCENARIO = Scenario(
    id="host-memory-pressure",
    title="h1 has under 3 % of its memory available and 90 % of its swap in use",
    family="host",
    build=build,
    expect=Expect(
        required=(Required(code="host.memory_pressure", subject="h1"),),
        forbidden=("container.oom_killed", "container.restarting"),
    ),
)

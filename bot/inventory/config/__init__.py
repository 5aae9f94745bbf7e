"""The inventory: where stackbot finds its environments, hosts and stacks."""

from bot.inventory.config.loader import (
    DEFAULT_PATH,
    ENV_VAR,
    find_config,
    load_inventory,
    parse_inventory,
)
from bot.inventory.config.models import (
    EnvironmentConfig,
    HostConfig,
    Inventory,
    ResolvedHost,
    StackConfig,
)

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "EnvironmentConfig",
    "HostConfig",
    "Inventory",
    "ResolvedHost",
    "StackConfig",
    "find_config",
    "load_inventory",
    "parse_inventory",
]

"""Slack settings from the environment: tokens, signing secret, the Web API base URL."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, SecretStr

from bot.model.errors import ConfigError

DEFAULT_API_URL = "https://slack.com/api/"


class SlackSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    bot_token: SecretStr
    signing_secret: SecretStr
    app_token: SecretStr | None = None  # Socket Mode (the default) needs it
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, socket_mode: bool) -> SlackSettings:
        missing = [
            name
            for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
            + (("SLACK_APP_TOKEN",) if socket_mode else ())
            if not environ.get(name)
        ]
        if missing:
            mode = "Socket Mode" if socket_mode else "HTTP mode"
            raise ConfigError(f"{mode} needs {', '.join(missing)} in the environment")
        api_url = environ.get("SLACK_API_URL") or DEFAULT_API_URL
        return cls(
            bot_token=SecretStr(environ["SLACK_BOT_TOKEN"]),
            signing_secret=SecretStr(environ["SLACK_SIGNING_SECRET"]),
            app_token=SecretStr(environ["SLACK_APP_TOKEN"])
            if environ.get("SLACK_APP_TOKEN")
            else None,
            api_url=api_url if api_url.endswith("/") else api_url + "/",
        )

"""A profile's account form: the user name for `basic` auth, the OAuth2 grant where the profile
allows more than one (docs/profiles.md: `[auth] grants`; the profile's own `grant` first, the
default), and the per-account URL options the profile names (`[auth] token_url` for `oauth2`,
`result_hosts` for every profile), each a labelled input whose placeholder is the profile's own
value."""

from __future__ import annotations

from jobdock.core.providers.base import AccountForm, AccountOption
from jobdock.core.providers.profiles.schema import Profile

GRANT_LABELS = (
    ("client_credentials", "Client credentials (client ID and secret)"),
    ("refresh_token", "Refresh token (client ID, secret and a refresh token)"),
)


def profile_account_form(profile: Profile) -> AccountForm:
    options: list[AccountOption] = []
    if profile.auth.kind == "oauth2" and len(profile.auth.grants) > 1:
        options.append(AccountOption(key="grant", label="OAuth2 grant",
                                     choices=profile.auth.grants, choice_labels=GRANT_LABELS,
                                     near_credentials=True))  # fmt: skip
    if profile.auth.kind == "oauth2":
        hint = _readable(profile.auth.token_url) or "https://…"
        options.append(AccountOption(key="token_url", label="Token URL", hint=hint))
    defaults = ",".join(h.removeprefix("https://") for h in profile.result_hosts)
    options.append(AccountOption(key="result_hosts", label="Result hosts",
                                 hint=defaults or "none; host names, comma separated"))  # fmt: skip
    return AccountForm(user=profile.auth.kind == "basic", options=tuple(options))


def _readable(url: str | None) -> str:
    """A token URL as a placeholder: `{origin}` said in words."""
    return (url or "").replace("{origin}", "(the base URL's origin)")

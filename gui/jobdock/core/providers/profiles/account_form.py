"""A profile's account form: the user name for `basic` auth, the OAuth2 grant where the profile
allows more than one (docs/profiles.md: `[auth] grants`; the profile's own `grant` first, the
default), and the per-account URL options the profile names (`[auth] token_url` for `oauth2`,
`result_hosts` for every profile), each a labelled input whose placeholder is the profile's own
value."""

from __future__ import annotations

from jobdock.core.providers.base import AccountForm, AccountOption
from jobdock.core.providers.profiles.schema import Profile


def profile_account_form(profile: Profile) -> AccountForm:
    options: list[AccountOption] = []
    if profile.auth.kind == "oauth2" and len(profile.auth.grants) > 1:
        options.append(AccountOption(key="grant", label="OAuth2 grant",
                                     choices=profile.auth.grants))  # fmt: skip
    if profile.auth.kind == "oauth2":
        options.append(AccountOption(key="token_url", label="Token URL",
                                     hint=profile.auth.token_url or "https://…"))  # fmt: skip
    defaults = ",".join(h.removeprefix("https://") for h in profile.result_hosts)
    options.append(AccountOption(key="result_hosts", label="Result hosts",
                                 hint=defaults or "none; host names, comma separated"))  # fmt: skip
    return AccountForm(user=profile.auth.kind == "basic", options=tuple(options))
